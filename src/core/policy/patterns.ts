import type { Resource } from '../gate-request.js';
import { LiteralIndex } from './literal-index.js';
import type { ResourcePattern } from './schema.js';

/**
 * Glob matching for policy patterns, compiled once at load so that evaluation does no parsing.
 * `*` matches any run of characters (dots and slashes included), `?` exactly one; everything
 * else is literal. Patterns are data plus one `test` method (not closures), which keeps the
 * hot call sites monomorphic; `*`-only patterns never touch the regular expression engine.
 */

/** A compiled test of one string. */
export interface Matcher {
  test(value: string): boolean;
}

/** True when the pattern holds a wildcard. */
export function isGlob(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

const Kind = { Any: 0, Exact: 1, Prefix: 2, Suffix: 3, Segments: 4, Regex: 5 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

/** One compiled glob. */
export class Glob implements Matcher {
  private readonly kind: Kind;
  private readonly first: string;
  private readonly last: string;
  private readonly middle: readonly string[];
  private readonly minLength: number;
  private readonly regex: RegExp | undefined;

  constructor(readonly pattern: string) {
    const segments = pattern.split('*');
    this.first = segments[0]!;
    this.last = segments.length > 1 ? segments[segments.length - 1]! : '';
    this.middle = segments.slice(1, -1).filter((s) => s !== '');
    this.minLength = this.first.length + this.last.length + this.middle.reduce((n, s) => n + s.length, 0);
    this.regex = undefined;
    if (pattern.includes('?')) {
      const source = [...pattern].map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\/-]/g, '\\$&'))).join('');
      this.regex = new RegExp(`^${source}$`, 's');
      this.kind = Kind.Regex;
    } else if (segments.length === 1) this.kind = Kind.Exact;
    else if (segments.every((s) => s === '')) this.kind = Kind.Any;
    else if (segments.length === 2 && this.last === '') this.kind = Kind.Prefix;
    else if (segments.length === 2 && this.first === '') this.kind = Kind.Suffix;
    else this.kind = Kind.Segments;
  }

  test(value: string): boolean {
    switch (this.kind) {
      case Kind.Any:
        return true;
      case Kind.Exact:
        return value === this.first;
      case Kind.Prefix:
        return value.startsWith(this.first);
      case Kind.Suffix:
        return value.endsWith(this.last);
      case Kind.Regex:
        return this.regex!.test(value);
      default:
        return this.segments(value);
    }
  }

  /** The longest fixed part of the pattern: any value it matches contains it. */
  anchor(): string {
    let best = '';
    for (const part of this.pattern.split(/[*?]/)) if (part.length > best.length) best = part;
    return best;
  }

  /** Leftmost match of each middle segment, between the fixed prefix and suffix: no backtracking. */
  private segments(value: string): boolean {
    if (value.length < this.minLength || !value.startsWith(this.first) || !value.endsWith(this.last)) return false;
    let at = this.first.length;
    const end = value.length - this.last.length;
    for (const segment of this.middle) {
      const found = value.indexOf(segment, at);
      if (found < 0 || found + segment.length > end) return false;
      at = found + segment.length;
    }
    return true;
  }
}

/** A list of globs: passes when any of them matches. Exact entries are one Set lookup. */
export class GlobSet implements Matcher {
  private readonly any: boolean;
  private readonly exact: ReadonlySet<string>;
  private readonly globs: readonly Glob[];

  constructor(patterns: readonly string[]) {
    this.any = patterns.includes('*');
    this.exact = new Set(patterns.filter((p) => !isGlob(p)));
    this.globs = patterns.filter(isGlob).map((p) => new Glob(p));
  }

  test(value: string): boolean {
    if (this.any || this.exact.has(value)) return true;
    for (const glob of this.globs) if (glob.test(value)) return true;
    return false;
  }
}

/** Compiles one glob. */
export function compileGlob(pattern: string): Matcher {
  return new Glob(pattern);
}

/** Compiles a list of globs into one test that passes when any of them matches. */
export function compileGlobs(patterns: readonly string[]): Matcher {
  return new GlobSet(patterns);
}

const ANY = new Glob('*');

/** Resource patterns (type and id globs); a resource matches when it matches any of them. */
export class ResourceMatcher {
  private readonly patterns: ReadonlyArray<{ type: Glob; id: Glob }>;

  constructor(patterns: readonly ResourcePattern[]) {
    this.patterns = patterns.map((p) => ({
      type: p.type === undefined ? ANY : new Glob(p.type),
      id: p.id === undefined ? ANY : new Glob(p.id),
    }));
  }

  test(resource: Resource): boolean {
    for (const p of this.patterns) if (p.type.test(resource.type) && p.id.test(resource.id)) return true;
    return false;
  }
}

/** Groups of at least this many id patterns get a literal index; smaller ones are scanned. */
const INDEXED_GROUP = 8;

/**
 * Id patterns that share a type pattern. Large groups first ask a literal index which
 * patterns' fixed parts occur in the id, and test only those in full.
 */
class IdGroup<T> {
  private readonly entries: Array<{ id: Glob; item: T }> = [];
  private index: LiteralIndex | undefined;
  private unanchored: Uint8Array | undefined;

  add(id: Glob, item: T): void {
    this.entries.push({ id, item });
  }

  seal(): void {
    if (this.entries.length < INDEXED_GROUP) return;
    const anchors = this.entries.map((e) => e.id.anchor());
    this.index = new LiteralIndex(anchors);
    this.unanchored = Uint8Array.from(anchors, (a) => (a === '' ? 1 : 0));
  }

  collect(id: string, out: T[] | undefined): T[] | undefined {
    const entries = this.entries;
    if (this.index === undefined) {
      for (const entry of entries) out = addMatch(entry, id, out);
      return out;
    }
    const candidates = this.unanchored!.slice();
    this.index.find(id, candidates);
    for (let i = 0; i < entries.length; i += 1) if (candidates[i] === 1) out = addMatch(entries[i]!, id, out);
    return out;
  }
}

function addMatch<T>(entry: { id: Glob; item: T }, id: string, out: T[] | undefined): T[] | undefined {
  if (!entry.id.test(id)) return out;
  if (out === undefined) return [entry.item];
  if (!out.includes(entry.item)) out.push(entry.item);
  return out;
}

/**
 * Finds the entries (assets, protected targets) whose patterns match a resource. Patterns are
 * grouped by their type glob, so one resource tests each distinct type pattern once and only
 * the ids of the groups whose type matched.
 */
export class ResourceIndex<T> {
  private readonly byExactType = new Map<string, IdGroup<T>>();
  private readonly byTypeGlob: Array<{ type: Glob; group: IdGroup<T> }> = [];
  private readonly empty: boolean;
  private readonly memo = new Map<string, Map<string, readonly T[]>>();
  private memoSize = 0;

  constructor(items: readonly T[], patternsOf: (item: T) => readonly ResourcePattern[]) {
    const globGroups = new Map<string, IdGroup<T>>();
    for (const item of items) {
      for (const p of patternsOf(item)) {
        const type = p.type ?? '*';
        const groups = isGlob(type) ? globGroups : this.byExactType;
        let group = groups.get(type);
        if (group === undefined) groups.set(type, (group = new IdGroup<T>()));
        group.add(p.id === undefined ? ANY : new Glob(p.id), item);
      }
    }
    for (const group of this.byExactType.values()) group.seal();
    for (const [type, group] of globGroups) {
      group.seal();
      this.byTypeGlob.push({ type: new Glob(type), group });
    }
    this.empty = items.length === 0;
  }

  /**
   * Matching entries, each once. The result is shared (memoized per resource, since agents
   * touch the same resources again and again): do not modify it. The memo is bounded and
   * starts over when full; it never changes a result.
   */
  lookup(resource: Resource): readonly T[] {
    if (this.empty) return NONE;
    // Two levels rather than one joined key: the request's strings are hashed once, not copied.
    let byId = this.memo.get(resource.type);
    const cached = byId?.get(resource.id);
    if (cached !== undefined) return cached;
    let out = this.byExactType.get(resource.type)?.collect(resource.id, undefined);
    for (const { type, group } of this.byTypeGlob) if (type.test(resource.type)) out = group.collect(resource.id, out);
    const result: readonly T[] = out ?? NONE;
    if (this.memoSize >= RESOURCE_MEMO_LIMIT) {
      this.memo.clear();
      this.memoSize = 0;
      byId = undefined;
    }
    if (byId === undefined) this.memo.set(resource.type, (byId = new Map()));
    byId.set(resource.id, result);
    this.memoSize += 1;
    return result;
  }
}

/** Distinct resources whose matches are remembered (a few MB at most). */
const RESOURCE_MEMO_LIMIT = 4_096;
const NONE: readonly never[] = Object.freeze([]);
