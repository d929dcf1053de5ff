import type { Logger } from '../../logger.js';
import { looseKeyFiles } from './key-files.js';
import { KeyRing } from './key-ring.js';

/** How often replicas re-read COUNTERSIGN_KEYS. JWKS_CACHE's max-age is chosen to match. */
export const KEY_RELOAD_INTERVAL_MS = 60_000;

export interface KeyRingWatcherOptions {
  maxGrantTtlSeconds: number;
  logger: Pick<Logger, 'info' | 'error' | 'warn'>;
  intervalMs?: number;
  /** Epoch ms; default Date.now. */
  clock?: () => number;
}

/**
 * Keeps a replica's key ring in step with the key directory, so that `countersign keys rotate`
 * (or a secret update) reaches every running replica without a restart: a replica that kept
 * signing with a retired key would mint grants that other replicas stop publishing a key for.
 * A directory that fails to load keeps the last good ring and logs the error, as a bad policy
 * reload does.
 */
export class KeyRingWatcher {
  private current: KeyRing;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly dir: string,
    ring: KeyRing,
    private readonly options: KeyRingWatcherOptions,
  ) {
    this.current = ring;
  }

  /** Loads the ring once (a failure stops the start) and reloads it every `intervalMs`. */
  static async start(dir: string, options: KeyRingWatcherOptions): Promise<KeyRingWatcher> {
    const clock = options.clock ?? Date.now;
    const ring = await KeyRing.load(dir, { now: clock(), maxGrantTtlSeconds: options.maxGrantTtlSeconds });
    const loose = await looseKeyFiles(dir);
    if (loose.length > 0) {
      options.logger.warn({ event: 'keys.loose_permissions', dir, files: loose }, `grant signing key files readable by others than their owner: ${loose.join(', ')}; chmod 600 them`);
    }
    const watcher = new KeyRingWatcher(dir, ring, options);
    watcher.timer = setInterval(() => void watcher.reload(), options.intervalMs ?? KEY_RELOAD_INTERVAL_MS);
    watcher.timer.unref();
    return watcher;
  }

  /** The ring to sign and publish with now. */
  get ring(): KeyRing {
    return this.current;
  }

  /** Re-reads the directory; true when the ring was replaced. */
  async reload(): Promise<boolean> {
    const now = (this.options.clock ?? Date.now)();
    try {
      const next = await KeyRing.load(this.dir, { now, maxGrantTtlSeconds: this.options.maxGrantTtlSeconds });
      const before = this.current.describe(now).find((k) => k.status === 'current')?.kid;
      this.current = next;
      const after = next.current(now).kid;
      if (before !== after) this.options.logger.info({ event: 'keys.reloaded', kid: after, previousKid: before }, 'signing key changed');
      return true;
    } catch (err) {
      this.options.logger.error({ event: 'keys.reload_failed', err }, 'cannot reload the key ring; keeping the last good one');
      return false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
