import { activeDeadline, type Gate } from '../../core/gate.js';
import { jobId } from './names.js';

/**
 * When a gate's timers fire. Pure: the queue adapters turn the result into delayed jobs.
 *
 * Reminders and escalation form a chain of at most one job per gate: each, when it runs, arms
 * the next. A delayed BullMQ job costs about 1 KB of Redis memory, and a waiting gate should
 * stay under 4 KB in all, so a chain beats four jobs armed up front. The expiry itself is run
 * by the shared expiry ticks (see GateTimers). A lost link is re-armed by the sweeper; a lost
 * expiry does not matter for correctness (the scripts enforce deadlines).
 */

export interface TimerSchedule {
  /** Reminders, as fractions of the review window (0.5 = half-way). */
  remindAt: number[];
  /** Escalation to `decision.review.escalateTo`, as a fraction of the review window (none when absent). */
  escalateAt?: number;
}

/** Only the expiry: reminders and escalation need Slack. */
export const EXPIRY_ONLY: TimerSchedule = { remindAt: [] };

/**
 * Reminders at half and at 90 % of the review window; escalation at three quarters, so the
 * fallback set has a quarter of the window and the 90 % reminder reaches both sets.
 */
export const DEFAULT_SCHEDULE: TimerSchedule = { remindAt: [0.5, 0.9], escalateAt: 0.75 };

export type Timer =
  | { kind: 'remind'; at: number; jobId: string; pct: number }
  | { kind: 'escalate'; at: number; jobId: string; to: string }
  | { kind: 'expire'; at: number; jobId: string };

type PlannedGate = Pick<Gate, 'id' | 'state' | 'version' | 'createdAt' | 'reviewDeadline' | 'executionDeadline' | 'decision'>;

/** Every timer of the gate's current state, in firing order (the expiry last). */
export function timerPlan(gate: PlannedGate, schedule: TimerSchedule = DEFAULT_SCHEDULE): Timer[] {
  const deadline = activeDeadline(gate);
  if (deadline === undefined) return [];
  const timers: Timer[] = [];
  if (gate.state === 'pending_review') {
    const window = deadline - gate.createdAt;
    const at = (fraction: number) => gate.createdAt + Math.round(window * fraction);
    for (const fraction of schedule.remindAt) {
      const pct = Math.round(fraction * 100);
      timers.push({ kind: 'remind', at: at(fraction), jobId: jobId.remind(gate.id, pct), pct });
    }
    const to = gate.decision.review?.escalateTo;
    if (to !== undefined && schedule.escalateAt !== undefined) timers.push({ kind: 'escalate', at: at(schedule.escalateAt), jobId: jobId.escalate(gate.id), to });
    timers.sort((a, b) => a.at - b.at);
  }
  timers.push({ kind: 'expire', at: deadline, jobId: jobId.expire(gate.id, gate.version) });
  return timers;
}

/**
 * The timer to arm now: the first reminder or escalation still ahead (strictly after `after`),
 * else the expiry — which is armed even when overdue, so it fires at once.
 */
export function nextTimer(gate: PlannedGate, after: number, schedule: TimerSchedule = DEFAULT_SCHEDULE): Timer | undefined {
  const plan = timerPlan(gate, schedule);
  return plan.find((t) => t.kind !== 'expire' && t.at > after) ?? plan.find((t) => t.kind === 'expire');
}
