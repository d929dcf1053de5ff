import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { GateChange, GateObserver } from '../../app/ports.js';
import { GATE_STATES, isTerminal, type GateState } from '../../core/gate-state.js';
import { POST_HOC_OPEN, postHocRecordKey } from '../admin/post-hoc-reviews.js';
import type { GateStore } from '../redis/gate-store.js';
import { gateKeys, RETIRE_INDEX } from '../redis/keys.js';
import type { DeploymentAuditLog } from './deployment-log.js';
import { AUDIT_KEYS } from './keys.js';

/** How long final moves are gathered before they are written to the retire index (ms). */
const INDEX_EVERY_MS = 250;

/** Where the backfill of the retire index goes on from (a SCAN cursor; '0' starts over). */
const BACKFILL_CURSOR = 'cs:retire:backfill-cursor';
/** Every gate's hash. */
const GATE_PATTERN = 'cs:{g:*}:gate';

/** The event of the deployment-chain record that retires a gate (see retireDue). */
export const RETIRED_EVENT = 'gate.retired';

/**
 * States a gate leaves Redis from once its retention is over: the terminal ones, and `redeemed`
 * (its grant expired minutes after the redeem; an outcome may never be reported).
 */
export const RETIRABLE_STATES: readonly GateState[] = GATE_STATES.filter((s) => isTerminal(s) || s === 'redeemed');

/** What a deployment-chain record says when it retires a gate. */
export interface RetiredEntry {
  event: typeof RETIRED_EVENT;
  actor: string;
  at: number;
  gateId: string;
  state: GateState;
  /** How many links the gate's chain had; the deployment chain holds a copy of each. */
  links: number;
  /** The hash of its last link. */
  lastHash: string;
  /** When the gate reached its final state (epoch ms). */
  finalAt: number;
}

/** The retirement a deployment-chain admin entry records, if it is one. */
export function retiredEntryOf(entryText: string): RetiredEntry | undefined {
  let entry: unknown;
  try {
    entry = JSON.parse(entryText);
  } catch {
    return undefined;
  }
  if (typeof entry !== 'object' || entry === null) return undefined;
  const e = entry as Partial<RetiredEntry>;
  if (e.event !== RETIRED_EVENT || typeof e.gateId !== 'string' || !Number.isInteger(e.links) || typeof e.lastHash !== 'string') return undefined;
  return e as RetiredEntry;
}

/**
 * The retire record that describes the gate's copies (their count and last hash), else the one
 * naming the most links. Two passes racing can each write one; only one of them can be right.
 */
export function retirementOf<R extends RetiredEntry>(records: R[] | undefined, held: Array<{ seq: number; gateHash: string }> | undefined): R | undefined {
  if (!records || records.length === 0) return undefined;
  const end = held?.at(-1);
  const matching = records.find((r) => end !== undefined && r.links === end.seq && r.lastHash === end.gateHash);
  return matching ?? records.reduce((a, b) => (b.links > a.links ? b : a));
}

export interface RetireReport {
  /** Gates whose keys were deleted. */
  retired: number;
  /** Gates due, but kept: changed since they were checked, or with a post-hoc review still open. */
  kept: number;
  /** Index entries of gates already gone, dropped. */
  dropped: number;
}

/**
 * Retention: a gate's keys are deleted a set time after it reached a final state, so Redis does
 * not grow with every gate ever asked for. Nothing of the audit trail is lost: before a gate goes,
 * every link of its chain is copied to the deployment chain (which keeps them), and a
 * `gate.retired` record there names how many links it had and the last one's hash, so
 * `audit verify` can still check the copies and `countersign trace` rebuild the gate from them.
 *
 * As an observer it indexes gates that reach a final state (score = when, raised by later moves:
 * a redeemed gate that completes starts again). `retireDue` is run by a scheduled job.
 */
export class GateRetention implements GateObserver {
  constructor(
    private readonly redis: Redis,
    private readonly deps: {
      store: GateStore;
      audit: DeploymentAuditLog;
      now: () => number;
      logger?: Logger;
      /** How long a gate stays after reaching a final state. */
      retentionMs: number;
      /** Gates read from the index at a time. */
      batch?: number;
      /** A pass stops starting batches after this long (ms). */
      budgetMs?: number;
      /** Gate keys looked at per pass by the backfill (about). */
      backfillPerPass?: number;
    },
  ) {}

  /** Final moves not yet written to the index: gate id → when. */
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  /**
   * Notes the final move; the index is written for many gates at once, every quarter second (a
   * command per redeem cost the redeem path 8 % of its CPU). A note lost with its process is
   * found again by the backfill.
   */
  gateChanged(change: GateChange): void {
    if (!RETIRABLE_STATES.includes(change.gate.state)) return;
    this.pending.set(change.gate.id, this.deps.now());
    this.timer ??= setTimeout(() => void this.flush().catch((err: unknown) => this.deps.logger?.warn({ err }, 'could not index finished gates for retention; the backfill finds them')), INDEX_EVERY_MS).unref();
  }

  /** Writes the noted final moves to the index. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const pairs = [...this.pending].flatMap(([id, at]) => [at, id]);
    this.pending = new Map();
    // GT: the later of two final moves counts (completed after redeemed); new members are added.
    await this.redis.zadd(RETIRE_INDEX, 'GT', ...pairs);
  }

  /**
   * Retires every gate whose retention is over, a batch at a time, until none is left or the
   * pass has run for `budgetMs` (the next pass goes on); returns what it did. Each pass first
   * indexes a slice of the gates the index may lack (see backfill).
   */
  async retireDue(): Promise<RetireReport> {
    const report: RetireReport = { retired: 0, kept: 0, dropped: 0 };
    const started = Date.now();
    const batch = this.deps.batch ?? 500;
    await this.flush();
    await this.backfill();
    // Gates kept in this pass stay in the index, at its front: each batch starts behind them.
    const held = { count: 0 };
    for (;;) {
      const cutoff = this.deps.now() - this.deps.retentionMs;
      const due = await this.redis.zrangebyscore(RETIRE_INDEX, '-inf', cutoff, 'WITHSCORES', 'LIMIT', held.count, batch);
      for (let i = 0; i + 1 < due.length; i += 2) {
        const gateId = due[i]!;
        try {
          await this.retireOne(gateId, Number(due[i + 1]), cutoff, report, held);
        } catch (err) {
          // One gate that cannot be read or copied must not stop the others.
          this.deps.logger?.error({ err, gateId }, 'could not retire a gate; kept, and tried again next pass');
          report.kept += 1;
          held.count += 1;
        }
      }
      if (due.length < batch * 2 || Date.now() - started >= (this.deps.budgetMs ?? 60_000)) return report;
    }
  }

  /**
   * Indexes finished gates the observer never saw: those that finished before this release, while
   * retention was `forever`, or when the index write failed. Walks the gate keys a slice per pass
   * (a cursor in Redis shared by all processes), scoring each by its last move.
   */
  async backfill(maxKeys = this.deps.backfillPerPass ?? 5_000): Promise<number> {
    let cursor = (await this.redis.get(BACKFILL_CURSOR)) ?? '0';
    let scanned = 0;
    let indexed = 0;
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', GATE_PATTERN, 'COUNT', 1_000);
      cursor = next;
      scanned += 1_000;
      const ids = keys.map((k) => /^cs:\{g:([^}]+)\}:gate$/.exec(k)?.[1]).filter((id): id is string => id !== undefined);
      if (ids.length === 0) continue;
      const read = this.redis.pipeline();
      for (const id of ids) read.hmget(gateKeys(id).gate, 'state', 'updatedAt');
      const heads = (await read.exec()) ?? [];
      const add = this.redis.pipeline();
      ids.forEach((id, n) => {
        const [state, updatedAt] = (heads[n]?.[1] as Array<string | null> | undefined) ?? [];
        if (!state || !RETIRABLE_STATES.includes(state as GateState) || !updatedAt) return;
        add.zadd(RETIRE_INDEX, 'NX', Number(updatedAt), id);
        indexed += 1;
      });
      if (indexed > 0) await add.exec();
    } while (cursor !== '0' && scanned < maxKeys);
    await this.redis.set(BACKFILL_CURSOR, cursor);
    return indexed;
  }

  private async retireOne(gateId: string, finalAt: number, cutoff: number, report: RetireReport, held: { count: number }): Promise<void> {
    const { store, audit, now, logger } = this.deps;
    const end = await store.chainEnd(gateId);
    if (!end || !RETIRABLE_STATES.includes(end.state)) {
      // Gone without a retirement of ours (its copies and watermark stay, for verify to judge),
      // or not final: the next final move indexes it again.
      await this.redis.zrem(RETIRE_INDEX, gateId);
      report.dropped += 1;
      return;
    }
    const keep = (why: string, level: 'info' | 'warn' | 'error' = 'info') => {
      logger?.[level]({ gateId, state: end.state }, `gate kept past its retention: ${why}`);
      report.kept += 1;
      held.count += 1;
    };
    if (end.lastHash === '') {
      // A chain whose last link cannot be read is a case for audit verify, not for deletion.
      await this.redis.zrem(RETIRE_INDEX, gateId);
      logger?.error({ gateId }, 'gate kept past its retention: the last link of its chain is unreadable (run countersign audit verify)');
      report.dropped += 1;
      return;
    }
    // A break-glass approval waits for its post-hoc review: the gate stays until it is done.
    if ((await this.redis.zscore(POST_HOC_OPEN, gateId)) !== null) return keep('its break-glass approval awaits the post-hoc review');
    // Every link into the deployment chain first, checked against Redis itself (never this
    // process's memory of it), then the record that the gate leaves.
    await audit.copyGate(gateId, { fresh: true });
    const copied = Number((await this.redis.hget(AUDIT_KEYS.copied, gateId)) ?? '0');
    if (!(copied >= end.links)) return keep(`only ${copied} of its ${end.links} links are in the deployment chain`, 'warn');
    const entry: RetiredEntry = { event: RETIRED_EVENT, actor: 'system:retention', at: now(), gateId, state: end.state, links: end.links, lastHash: end.lastHash, finalAt };
    await audit.admin({ ...entry });
    const outcome = await store.retire(gateId, end, RETIRABLE_STATES, cutoff);
    if (outcome === 'retired') {
      await this.forget(gateId);
      report.retired += 1;
      logger?.info({ gateId, state: end.state, links: end.links, event: 'gate.retired' }, 'gate retired after its retention period');
    } else if (outcome === 'gone') {
      // Another pass retired it meanwhile.
      await this.redis.zrem(RETIRE_INDEX, gateId);
      report.dropped += 1;
    } else {
      // It moved on after the check (its record above is void: verify reads the gate itself while
      // it exists); its move raised its index entry, so it is not due again yet.
      keep('it moved during the pass');
    }
  }

  /** Drops a retired gate from the index, and its copy watermark: the retire record took its place. */
  private async forget(gateId: string): Promise<void> {
    // The post-hoc review record of a break-glass goes too: its reviews are in the deployment chain.
    await Promise.all([this.redis.zrem(RETIRE_INDEX, gateId), this.redis.hdel(AUDIT_KEYS.copied, gateId), this.redis.del(postHocRecordKey(gateId))]);
  }
}
