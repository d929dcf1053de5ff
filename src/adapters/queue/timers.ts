import { DelayedError, type Job, type Queue } from 'bullmq';
import { announceExpiry, type AppContext, type GateChange, type GateObserver } from '../../app/ports.js';
import type { Gate } from '../../core/gate.js';
import type { GateState } from '../../core/gate-state.js';
import { expireIfDue } from './expiry.js';
import { checkJobId, jobId, TIMER_JOB } from './names.js';
import { DEFAULT_SCHEDULE, nextTimer, type Timer, type TimerSchedule } from './timer-plan.js';

/** What a timer job carries: enough to find the gate and to tell whether it moved on. */
export interface TimerJobData {
  gateId: string;
  /** The gate's version when the timer was armed. */
  version: number;
  state: GateState;
  /** When the timer is due (epoch ms). */
  at: number;
  pct?: number;
  to?: string;
}

/** Reviewer nudges in Slack (the change record's thread); absent when Slack is off. */
export interface ReviewerNudges {
  remind(gate: Gate, pct: number): Promise<void>;
  /** Adds the fallback set's members to the gate's reviewers and tells them, once. */
  escalate(gate: Gate, toSet: string): Promise<void>;
}

export const TIMER_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: true,
  removeOnFail: { count: 1_000 },
} as const;

/** An expiry tick: every gate whose deadline lies in (from, to] is expired by one job. */
export interface TickJobData {
  from: number;
  to: number;
}

/**
 * Arms a gate's next timer on every change (a GateObserver). Arming is idempotent: the job id
 * names the effect, so processes that arm the same timer make one job.
 *
 * Expiries are not one job per gate: the gate store's deadline index already holds every
 * deadline, and one delayed job per tick (`expire-due-<tick end>`, every `tickMs`) expires the
 * gates due in its tick. Tick jobs exist only `leadMs` ahead (the sweeper keeps them coming).
 * A per-gate job costs about 1 KB of Redis and three BullMQ scripts; 100,000 waiting gates
 * would hold 100 MB of jobs and, at their deadlines, spend most of Redis on queue bookkeeping.
 * A gate already overdue when it changes gets its own `expire-<gate>-v<version>` job at once.
 */
export class GateTimers implements GateObserver {
  constructor(
    private readonly queue: Queue,
    private readonly now: () => number,
    readonly schedule: TimerSchedule = DEFAULT_SCHEDULE,
    readonly leadMs: number = 10_000,
    readonly tickMs: number = 250,
  ) {}

  async gateChanged(change: GateChange): Promise<void> {
    await this.arm(change.gate);
  }

  /** The end of the tick that covers `at`. */
  tickEnd(at: number): number {
    return Math.ceil(at / this.tickMs) * this.tickMs;
  }

  /**
   * Arms the gate's next timer after `after` (default now). Returns the timer when a job for it
   * was added (or was there already), undefined when nothing waits or a later tick will do.
   */
  async arm(gate: Gate, after: number = this.now()): Promise<Timer | undefined> {
    const timer = nextTimer(gate, after, this.schedule);
    if (!timer) return undefined;
    const now = this.now();
    if (timer.kind === 'expire' && timer.at > now) {
      if (timer.at - now > this.leadMs) return undefined;
      await this.ensureTicks(this.tickEnd(timer.at) - this.tickMs, this.tickEnd(timer.at));
      return timer;
    }
    const data: TimerJobData = { gateId: gate.id, version: gate.version, state: gate.state, at: timer.at };
    if (timer.kind === 'remind') data.pct = timer.pct;
    if (timer.kind === 'escalate') data.to = timer.to;
    await this.queue.add(timer.kind, data, {
      ...TIMER_JOB_OPTIONS,
      jobId: checkJobId(timer.jobId),
      delay: Math.max(0, timer.at - now),
    });
    return timer;
  }

  /** Tick jobs for every tick ending in (from, to]; returns how many were asked for. */
  async ensureTicks(from: number, to: number): Promise<number> {
    const ends: number[] = [];
    for (let end = this.tickEnd(from + 1); end <= to; end += this.tickMs) ends.push(end);
    if (ends.length === 0) return 0;
    const now = this.now();
    await this.queue.addBulk(
      ends.map((end) => ({
        name: TIMER_JOB.tick,
        data: { from: end - this.tickMs, to: end } satisfies TickJobData,
        opts: { ...TIMER_JOB_OPTIONS, jobId: checkJobId(jobId.tick(end)), delay: Math.max(0, end - now) },
      })),
    );
    return ends.length;
  }
}

export interface TimerDeps {
  ctx: AppContext;
  timers: GateTimers;
  nudges?: ReviewerNudges | undefined;
}

/**
 * Runs one timer job. Every branch re-reads the gate first and does nothing when it moved on,
 * so a late, repeated or stale job is harmless.
 */
export async function runTimer(deps: TimerDeps, job: Job<TimerJobData>, token: string | undefined): Promise<string> {
  const { ctx, timers } = deps;
  const { gateId, version } = job.data;
  if (job.name === TIMER_JOB.expire) {
    const outcome = await expireIfDue(ctx, gateId, { actor: 'system:timer', expected: { version, state: job.data.state } });
    switch (outcome.kind) {
      case 'expired':
      case 'gone':
        return outcome.kind;
      case 'already': {
        // Expired right after the version we were armed for, by a timer that died before telling
        // anyone or by a read that enforced the deadline and told nobody: announce it (observers
        // are idempotent). The sweeper announces its own expiries.
        const actor = outcome.gate.resolution?.actor;
        if (outcome.gate.version === version + 1 && (actor === 'system:timer' || actor === 'system:deadline')) {
          return (await announceExpiry(ctx, outcome.gate, job.data.state, actor)) ? 'announced' : 'already';
        }
        return 'already';
      }
      case 'early':
      case 'moved_on': {
        const gate = await ctx.store.read(gateId);
        if (!gate) return 'gone';
        if (outcome.kind === 'early' && gate.version === version) {
          // Fired before the deadline (clock skew between hosts): wait for it.
          await job.moveToDelayed(outcome.deadline, token);
          throw new DelayedError();
        }
        await timers.arm(gate);
        return 'moved_on';
      }
    }
  }

  const gate = await ctx.store.read(gateId);
  if (!gate) return 'gone';
  if (gate.state !== 'pending_review') {
    // The chain ran late and a read enforced the deadline in between, telling nobody: tell them.
    if (gate.state === 'expired' && gate.version === version + 1 && gate.resolution?.actor === 'system:deadline') {
      return (await announceExpiry(ctx, gate, job.data.state)) ? 'announced' : 'moved_on';
    }
    return 'moved_on';
  }
  // The next link first: a failing reminder must not break the chain up to the expiry.
  await timers.arm(gate, Math.max(ctx.now(), job.data.at));
  if (!deps.nudges) return 'no_slack';
  if (job.name === TIMER_JOB.remind) await deps.nudges.remind(gate, job.data.pct ?? 0);
  else if (job.name === TIMER_JOB.escalate && job.data.to) await deps.nudges.escalate(gate, job.data.to);
  return job.name;
}
