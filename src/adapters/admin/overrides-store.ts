import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RuleMode } from '../../core/decision.js';
import type { FreezeWindow, PolicyOverrides } from '../../core/policy/types.js';

/**
 * Runtime overrides (mode, per-rule modes, freezes) shared by every process through one Redis
 * hash. Each process copies them into the `overrides` object that every decision reads, at
 * most `refreshMs` after a change elsewhere, and at once after its own writes. Fields are one
 * per item (`rule:<id>`, `freeze:<id>`) so that concurrent admins never overwrite each other.
 * The hash also carries a policy reload counter: bumping it makes every process reload.
 */
export const OVERRIDES_KEY = 'cs:admin:overrides';

export interface OverridesSnapshot {
  mode?: RuleMode;
  ruleModes: Record<string, RuleMode>;
  freezes: FreezeWindow[];
}

const isMode = (v: unknown): v is RuleMode => v === 'enforce' || v === 'observe';

export class RuntimeOverrides {
  private timer: NodeJS.Timeout | undefined;
  private reloadSeen: string | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    /** The object the evaluator reads; changed in place. */
    private readonly target: PolicyOverrides,
    private readonly deps: { now: () => number; logger?: Logger; onReloadRequest?: () => Promise<unknown> },
  ) {}

  /** Starts following changes made by other processes. */
  async start(refreshMs = 1_000): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((err: unknown) => this.deps.logger?.warn({ err }, 'could not refresh runtime overrides; keeping the last ones'));
    }, refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the shared overrides into the evaluator's object (one read at a time). */
  refresh(): Promise<void> {
    this.refreshing ??= this.load().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async load(): Promise<void> {
    const hash = await this.redis.hgetall(OVERRIDES_KEY);
    const now = this.deps.now();
    const snapshot: OverridesSnapshot = { ruleModes: {}, freezes: [] };
    const ended: string[] = [];
    for (const [field, value] of Object.entries(hash)) {
      if (field === 'mode' && isMode(value)) snapshot.mode = value;
      else if (field.startsWith('rule:') && isMode(value)) snapshot.ruleModes[field.slice(5)] = value;
      else if (field.startsWith('freeze:')) {
        try {
          const freeze = JSON.parse(value) as FreezeWindow;
          if (Date.parse(freeze.to) <= now) ended.push(field);
          else snapshot.freezes.push(freeze);
        } catch {
          ended.push(field);
        }
      }
    }
    snapshot.freezes.sort((a, b) => a.from.localeCompare(b.from));
    this.apply(snapshot);
    if (ended.length > 0) await this.redis.hdel(OVERRIDES_KEY, ...ended);
    const reload = hash.reload;
    if (this.reloadSeen === undefined) this.reloadSeen = reload ?? '0';
    else if ((reload ?? '0') !== this.reloadSeen) {
      this.reloadSeen = reload ?? '0';
      await this.deps.onReloadRequest?.();
    }
  }

  private apply(s: OverridesSnapshot): void {
    if (s.mode) this.target.mode = s.mode;
    else delete this.target.mode;
    if (Object.keys(s.ruleModes).length > 0) this.target.ruleModes = s.ruleModes;
    else delete this.target.ruleModes;
    if (s.freezes.length > 0) this.target.freezes = s.freezes;
    else delete this.target.freezes;
  }

  /** What applies now (as this process last read it). */
  snapshot(): OverridesSnapshot {
    return {
      ...(this.target.mode ? { mode: this.target.mode } : {}),
      ruleModes: { ...(this.target.ruleModes ?? {}) },
      freezes: [...(this.target.freezes ?? [])],
    };
  }

  /** Sets (or, with `undefined`, clears) the global mode or one rule's mode. */
  async setMode(mode: RuleMode | undefined, rule?: string): Promise<void> {
    const field = rule === undefined ? 'mode' : `rule:${rule}`;
    if (mode === undefined) await this.redis.hdel(OVERRIDES_KEY, field);
    else await this.redis.hset(OVERRIDES_KEY, field, mode);
    await this.refresh();
  }

  async addFreeze(freeze: FreezeWindow): Promise<void> {
    await this.redis.hset(OVERRIDES_KEY, `freeze:${freeze.id}`, JSON.stringify(freeze));
    await this.refresh();
  }

  /** Lifts the runtime freezes of one environment (or all); returns those lifted. */
  async removeFreezes(environment: string | 'all'): Promise<FreezeWindow[]> {
    await this.refresh();
    const lifted = (this.target.freezes ?? []).filter((f) => environment === 'all' || f.environments.includes(environment));
    if (lifted.length > 0) await this.redis.hdel(OVERRIDES_KEY, ...lifted.map((f) => `freeze:${f.id}`));
    await this.refresh();
    return lifted;
  }

  /** Asks every process (this one included, on its next refresh) to reload the policy files. */
  async requestReload(): Promise<void> {
    const seq = await this.redis.hincrby(OVERRIDES_KEY, 'reload', 1);
    // This process reloads itself through the caller; it need not do it twice.
    this.reloadSeen = String(seq);
  }
}
