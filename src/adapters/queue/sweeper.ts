import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { announceExpiry, type AppContext } from '../../app/ports.js';
import { activeDeadline } from '../../core/gate.js';
import type { GateState } from '../../core/gate-state.js';
import { DEADLINE_INDEX, gateKeys } from '../redis/keys.js';
import { expireIfDue } from './expiry.js';
import { NOTE_ESCALATED_TO } from '../slack/slack-broker.js';
import { jobId } from './names.js';
import { timerPlan } from './timer-plan.js';
import type { GateTimers } from './timers.js';
import type { GateRevalidation } from './revalidation.js';

/** Where the last promotion pass stopped (epoch ms): ticks up to here have their jobs. */
const PROMOTED_UNTIL = 'cs:sweeper:promoted-until';
/** Gates the sweeper is expiring, until they are announced (see sweepOverdue). */
const SWEEP_INFLIGHT = 'cs:timers:inflight:sweeper';

/** Moves the cursor forward only (two processes may race: the larger value stays). */
const RAISE_CURSOR = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return 0`;

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
  /** Revalidation chains armed again (gates with a revalidateUrl whose chain was gone). */
  revalidations: number;
}

/**
 * The expiry engine around the deadline index that the gate store keeps (score = the active
 * deadline). It
 * - keeps expiry tick jobs coming, `leadMs` ahead, and runs each tick: the gates due in it;
 * - applies every deadline that is overdue by more than the grace period (a lost or stuck
 *   timer), with the same transition the timer uses, so the gate expires once either way;
 * - re-arms gates whose timer chain is gone (for example after Redis lost the queue's keys),
 *   by checking that one of the gate's possible timer jobs exists, and their revalidation
 *   chains the same way.
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
      /** Re-arms lost revalidation chains in the same pass. */
      revalidation?: Pick<GateRevalidation, 'rearm'>;
      options: SweeperOptions;
    },
  ) {}

  /**
   * Makes sure an expiry tick job exists for every tick from where the last pass stopped up to
   * the timers' lead (a cursor in Redis shared by all processes; a tick added twice is one job).
   * `fromStart` ignores the cursor: at boot, and whenever jobs may have been lost.
   */
  async promote(options: { fromStart?: boolean } = {}): Promise<number> {
    const { ctx, redis, timers } = this.deps;
    const upto = ctx.now() + timers.leadMs;
    const cursor = options.fromStart ? ctx.now() - timers.tickMs : Number((await redis.get(PROMOTED_UNTIL)) ?? 0);
    const added = await timers.ensureTicks(Math.max(cursor, ctx.now() - timers.tickMs), upto);
    await redis.eval(RAISE_CURSOR, 1, PROMOTED_UNTIL, upto);
    return added;
  }

  /** Both safety passes, for boot and the periodic check: every near tick exists, lost chains re-armed. */
  async rearm(): Promise<RearmReport & { ticks: number }> {
    const ticks = await this.promote({ fromStart: true });
    return { ...(await this.rearmAll()), ticks };
  }

  /**
   * Applies deadlines overdue by more than the grace period (lost or stuck timers). Like a tick,
   * it keeps the gates it is expiring in a set until they are announced, and first announces
   * what a sweep that died before telling anyone left there.
   */
  async sweepOverdue(): Promise<SweepReport> {
    await this.announceLeftovers(SWEEP_INFLIGHT, 'system:sweeper');
    return this.expireRange('-inf', () => this.deps.ctx.now() - this.deps.options.graceMs, 'system:sweeper', SWEEP_INFLIGHT);
  }

  /** Announces the gates a pass that died expired but did not announce, and forgets the rest. */
  private async announceLeftovers(inflight: string, actor: string): Promise<void> {
    const { ctx, redis } = this.deps;
    for (const [id, from] of Object.entries(await redis.hgetall(inflight))) {
      const gate = await ctx.store.read(id);
      if (gate?.state === 'expired' && gate.resolution?.actor === actor) {
        // Expired by a pass that died before telling anyone (or after: the mark says so).
        const done = (await announceExpiry(ctx, gate, from as GateState, actor)) || (await ctx.store.expiryAnnounced(id));
        // Claimed by someone still at it, or who died with the claim: looked at again next pass.
        if (!done) continue;
      }
      await redis.hdel(inflight, id);
    }
  }

  /**
   * One expiry tick: every gate whose deadline lies in (from, to]. Gates being expired are kept
   * in a per-tick set until they have been announced, so that a tick re-run after its worker
   * died announces what the dead worker had expired but not yet told anyone.
   */
  async expireTick(from: number, to: number, tickId: string): Promise<SweepReport> {
    const { ctx, redis } = this.deps;
    const inflight = `cs:timers:inflight:${tickId}`;
    await this.announceLeftovers(inflight, 'system:timer');
    const report = await this.expireRange(`(${from}`, () => to, 'system:timer', inflight);
    await redis.del(inflight);
    return report;
  }

  private async expireRange(min: string, max: () => number, actor: string, inflight?: string): Promise<SweepReport> {
    const { ctx, redis, options } = this.deps;
    const report: SweepReport = { expired: 0, checked: 0 };
    for (;;) {
      const ids = await redis.zrangebyscore(DEADLINE_INDEX, min, max(), 'LIMIT', 0, options.batch);
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
          if (inflight) await redis.hset(inflight, id, head.state);
          const outcome = await expireIfDue(ctx, id, { actor, expected: head });
          if (inflight) await redis.hdel(inflight, id);
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
    const report: RearmReport = { checked: 0, rearmed: 0, revalidations: 0 };
    const remindPcts = timers.schedule.remindAt.map((f) => Math.round(f * 100));
    for (let offset = 0; ; offset += options.batch) {
      const ids = await redis.zrange(DEADLINE_INDEX, offset, offset + options.batch - 1);
      if (ids.length === 0) return report;
      const heads = await this.heads(ids);
      if (this.deps.revalidation) {
        const waiting = ids.filter((_, i) => heads[i] !== undefined);
        report.revalidations += await this.deps.revalidation.rearm(waiting, { redis, read: (id) => ctx.store.read(id) });
      }
      const candidatesOf = (id: string, version: number | undefined) => [
        ...(version !== undefined ? [jobId.expire(id, version)] : []),
        ...remindPcts.map((pct) => jobId.remind(id, pct)),
        jobId.escalate(id),
      ];
      // A chain job counts while it waits or runs; one that failed for good (kept for a while,
      // with its finishedOn) is a lost link, not a timer.
      const look = redis.pipeline();
      ids.forEach((id, i) => {
        for (const c of candidatesOf(id, heads[i]?.version)) look.hmget(timerQueue.toKey(c), 'timestamp', 'finishedOn');
      });
      const replies = ((await look.exec()) ?? []).map(([, value]) => (value ?? [null, null]) as Array<string | null>);
      let at = 0;
      for (let i = 0; i < ids.length; i += 1) {
        const id = ids[i]!;
        const candidates = candidatesOf(id, heads[i]?.version);
        const states = replies.slice(at, (at += candidates.length));
        report.checked += 1;
        if (!heads[i] || states.some(([created, finished]) => created !== null && finished === null)) continue;
        const gate = await ctx.store.read(id);
        if (!gate) continue;
        // Finished chain jobs would swallow a new job of the same id.
        for (const [k, [created]] of states.entries()) if (created !== null) await timerQueue.remove(candidates[k]!);
        // An escalation whose time passed while the chain was lost runs now; otherwise the next timer.
        const missed = timerPlan(gate, timers.schedule).find((tm) => tm.kind === 'escalate' && tm.at <= this.deps.ctx.now());
        const escalated = gate.annotations[NOTE_ESCALATED_TO] !== undefined;
        if (await timers.arm(gate, missed && !escalated ? missed.at - 1 : undefined)) report.rearmed += 1;
      }
      if (ids.length < options.batch) return report;
    }
  }

  /** State, version and active deadline of each gate that waits on one (undefined when gone or finished). */
  private async heads(ids: string[]): Promise<Array<{ state: GateState; version: number; deadline?: number } | undefined>> {
    const pipe = this.deps.redis.pipeline();
    for (const id of ids) pipe.hmget(gateKeys(id).gate, 'state', 'version', 'reviewDeadline', 'executionDeadline');
    const replies = (await pipe.exec()) ?? [];
    return replies.map(([err, value]) => {
      const [state, version, review, execution] = (err ? [] : (value as Array<string | null>)) ?? [];
      if (!state || (state !== 'pending_review' && state !== 'approved')) return undefined;
      const field = state === 'pending_review' ? review : execution;
      const deadline = field ? Number(field) : undefined;
      return { state: state as GateState, version: Number(version), ...(deadline !== undefined ? { deadline } : {}) };
    });
  }
}
