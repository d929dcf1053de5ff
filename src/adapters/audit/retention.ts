import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { GateChange, GateObserver } from '../../app/ports.js';
import { GATE_STATES, isTerminal, type GateState } from '../../core/gate-state.js';
import { POST_HOC_OPEN } from '../admin/post-hoc-reviews.js';
import type { GateStore } from '../redis/gate-store.js';
import { RETIRE_INDEX } from '../redis/keys.js';
import type { DeploymentAuditLog } from './deployment-log.js';
import { AUDIT_KEYS } from './keys.js';

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
    },
  ) {}

  async gateChanged(change: GateChange): Promise<void> {
    if (!RETIRABLE_STATES.includes(change.gate.state)) return;
    // GT: the later of two final moves counts (completed after redeemed); new members are added.
    await this.redis.zadd(RETIRE_INDEX, 'GT', this.deps.now(), change.gate.id);
  }

  /**
   * Retires every gate whose retention is over, a batch at a time, until none is left or the
   * pass has run for `budgetMs` (the next pass goes on); returns what it did.
   */
  async retireDue(): Promise<RetireReport> {
    const report: RetireReport = { retired: 0, kept: 0, dropped: 0 };
    const started = Date.now();
    const batch = this.deps.batch ?? 500;
    // Gates held for a review stay in the index, at its front: each batch starts behind them.
    const held = { count: 0 };
    for (;;) {
      const due = await this.redis.zrangebyscore(RETIRE_INDEX, '-inf', this.deps.now() - this.deps.retentionMs, 'WITHSCORES', 'LIMIT', held.count, batch);
      for (let i = 0; i + 1 < due.length; i += 2) await this.retireOne(due[i]!, Number(due[i + 1]), report, held);
      if (due.length < batch * 2 || Date.now() - started >= (this.deps.budgetMs ?? 60_000)) return report;
    }
  }

  private async retireOne(gateId: string, finalAt: number, report: RetireReport, held: { count: number }): Promise<void> {
    const { store, audit, now, logger } = this.deps;
    const end = await store.chainEnd(gateId);
    if (!end || !RETIRABLE_STATES.includes(end.state)) {
      // Gone without a retirement of ours (its copies and watermark stay, for verify to judge),
      // or not final: the next final move indexes it again.
      await this.redis.zrem(RETIRE_INDEX, gateId);
      report.dropped += 1;
      return;
    }
    // A break-glass approval waits for its post-hoc review: the gate stays until it is done.
    if ((await this.redis.zscore(POST_HOC_OPEN, gateId)) !== null) {
      report.kept += 1;
      held.count += 1;
      return;
    }
    // Every link into the deployment chain first, then the record that the gate leaves.
    await audit.copyGate(gateId);
    const entry: RetiredEntry = { event: RETIRED_EVENT, actor: 'system:retention', at: now(), gateId, state: end.state, links: end.links, lastHash: end.lastHash, finalAt };
    await audit.admin({ ...entry });
    const outcome = await store.retire(gateId, end, RETIRABLE_STATES);
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
      report.kept += 1;
    }
  }

  /** Drops a retired gate from the index, and its copy watermark: the retire record took its place. */
  private async forget(gateId: string): Promise<void> {
    await Promise.all([this.redis.zrem(RETIRE_INDEX, gateId), this.redis.hdel(AUDIT_KEYS.copied, gateId)]);
  }
}
