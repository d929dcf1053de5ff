/**
 * A map that keeps about the `limit` most recently set entries, for hints that may be forgotten
 * (a forgotten entry costs a read, never a wrong answer). It holds two generations: entries are
 * set in the younger, and when the younger holds `limit / 2` it becomes the older and the
 * previous older is dropped whole. Every operation is O(1).
 *
 * Evicting the oldest entry of one `Map` (`map.delete(map.keys().next().value)`) is not: V8's
 * ordered table leaves deleted slots at its front until it is rebuilt, and finding the first
 * live key walks them, which made a full hint map the costliest step of the deployment copy.
 */
export class RecentMap<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private readonly half: number;

  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 2) throw new RangeError('a RecentMap keeps at least 2 entries');
    this.half = Math.floor(limit / 2);
  }

  get(key: K): V | undefined {
    return this.young.has(key) ? this.young.get(key) : this.old.get(key);
  }

  has(key: K): boolean {
    return this.young.has(key) || this.old.has(key);
  }

  /** Sets the entry as the most recent one. */
  set(key: K, value: V): this {
    this.old.delete(key);
    this.young.set(key, value);
    if (this.young.size >= this.half) {
      this.old = this.young;
      this.young = new Map();
    }
    return this;
  }

  delete(key: K): boolean {
    const young = this.young.delete(key);
    return this.old.delete(key) || young;
  }

  /** Entries held now: between `limit / 2 - 1` and `limit - 1` once it has filled. */
  get size(): number {
    return this.young.size + this.old.size;
  }
}
