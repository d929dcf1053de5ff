import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AppContext } from '../../app/ports.js';
import { activeDeadline } from '../../core/gate.js';
import type { GateState } from '../../core/gate-state.js';
import { DEADLINE_INDEX, gateKeys } from '../redis/keys.js';
import { expireIfDue } from './expiry.js';
import { jobId } from './names.js';
import type { GateTimers } from './timers.js';

export interface SweeperOptions {
  /** A deadline is left to its timer for this long before the sweeper applies it. */
  graceMs: number;
  /** Gates handled per Redis round trip. */
  batch: number;
}

export interface SweepReport {
  expired: number;
  checked: number;
}

export interface RearmReport {
  checked: number;
  rearmed: number;
}

/**
 * The safety net under the timers. It reads the deadline index that the gate store keeps
 * (score = the active deadline) and
 * - applies every deadline that is overdue by more than the grace period (a lost or stuck
 *   timer), with the same transition the timer uses, so the gate expires once either way;
 * - re-arms gates whose timer chain is gone (for example after Redis lost the queue's keys),
 *   by checking that one of the gate's possible timer jobs exists.
 * Deadlines are enforced by the scripts on every read and write regardless; the sweeper makes
 * the *announcement* (Slack, callbacks) happen on time when nothing else touches the gate.
 */
export class Sweeper {
  constructor(
    private readonly deps: {
      ctx: Pick<AppContext, 'store' | 'now' | 'logger' | 'observers'>;
      redis: Redis;
      timers: GateTimers;
      timerQueue: Queue;
      options: SweeperOptions;
    },
  ) {}

  /** Applies overdue deadlines until none is left (or a pass makes no progress). */
  async sweepOverdue(): Promise<SweepReport> {
    const { ctx, redis, options } = this.deps;
    const report: SweepReport = { expired: 0, checked: 0 };
    for (;;) {
      const cutoff = ctx.now() - options.graceMs;
      const ids = await redis.zrangebyscore(DEADLINE_INDEX, '-inf', cutoff, 'LIMIT', 0, options.batch);
      if (ids.length === 0) return report;
      const heads = await this.heads(ids);
      let progress = 0;
      await Promise.all(
        ids.map(async (id, i) => {
          report.checked += 1;
          const head = heads[i]!;
          if (!head) {
            await redis.zrem(DEADLINE_INDEX, id);
            progress += 1;
            return;
          }
          const outcome = await expireIfDue(ctx, id, { actor: 'system:sweeper', expected: head });
          if (outcome.kind === 'expired') report.expired += 1;
          if (outcome.kind === 'early') {
            // The index is behind the gate: put the gate back at its real deadline.
            await redis.zadd(DEADLINE_INDEX, outcome.deadline, id);
            progress += 1;
          } else if (outcome.kind !== 'moved_on') {
            await redis.zrem(DEADLINE_INDEX, id);
            progress += 1;
          } else {
            // A newer version: fix the index from the gate itself.
            const gate = await ctx.store.read(id);
            const deadline = gate && activeDeadline(gate);
            if (deadline === undefined || deadline === null) await redis.zrem(DEADLINE_INDEX, id);
            else await redis.zadd(DEADLINE_INDEX, deadline, id);
            progress += 1;
          }
        }),
      );
      if (progress === 0) return report;
    }
  }

  /** Walks every gate in the index and re-arms those with no timer job; returns what it did. */
  async rearmAll(): Promise<RearmReport> {
    const { ctx, redis, timers, timerQueue, options } = this.deps;
    const report: RearmReport = { checked: 0, rearmed: 0 };
    const remindPcts = timers.schedule.remindAt.map((f) => Math.round(f * 100));
    for (let offset = 0; ; offset += options.batch) {
      const ids = await redis.zrange(DEADLINE_INDEX, offset, offset + options.batch - 1);
      if (ids.length === 0) return report;
      const heads = await this.heads(ids);
      const exists = redis.pipeline();
      ids.forEach((id, i) => {
        const head = heads[i];
        const candidates = [
          ...(head ? [jobId.expire(id, head.version)] : []),
          ...remindPcts.map((pct) => jobId.remind(id, pct)),
          jobId.escalate(id),
        ];
        exists.exists(...candidates.map((c) => timerQueue.toKey(c)));
      });
      const counts = (await exists.exec()) ?? [];
      for (let i = 0; i < ids.length; i += 1) {
        report.checked += 1;
        if (!heads[i] || Number(counts[i]?.[1] ?? 0) > 0) continue;
        const gate = await ctx.store.read(ids[i]!);
        if (gate && (await timers.arm(gate))) report.rearmed += 1;
      }
      if (ids.length < options.batch) return report;
    }
  }

  /** State and version of each gate that waits on a deadline (undefined when gone or finished). */
  private async heads(ids: string[]): Promise<Array<{ state: GateState; version: number } | undefined>> {
    const pipe = this.deps.redis.pipeline();
    for (const id of ids) pipe.hmget(gateKeys(id).gate, 'state', 'version');
    const replies = (await pipe.exec()) ?? [];
    return replies.map(([err, value]) => {
      const [state, version] = (err ? [] : (value as Array<string | null>)) ?? [];
      if (!state || (state !== 'pending_review' && state !== 'approved')) return undefined;
      return { state: state as GateState, version: Number(version) };
    });
  }
}
