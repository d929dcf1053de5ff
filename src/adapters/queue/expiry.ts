import { notify, type AppContext } from '../../app/ports.js';
import { ErrorCode, isCountersignError } from '../../core/errors.js';
import type { Gate } from '../../core/gate.js';
import type { GateState } from '../../core/gate-state.js';

/** What applying a deadline did. */
export type ExpiryOutcome =
  | { kind: 'expired'; gate: Gate }
  /** The gate is already expired (by an earlier run, another process, or a read that enforced it). */
  | { kind: 'already'; gate: Gate }
  /** The deadline is still ahead (a timer fired early, e.g. clock skew between hosts). */
  | { kind: 'early'; deadline: number }
  /** The gate moved on: another state or another version than the one the timer was armed for. */
  | { kind: 'moved_on' }
  | { kind: 'gone' };

const REASON: Partial<Record<GateState, string>> = {
  pending_review: 'review window ended',
  approved: 'execution window ended',
};

/**
 * Expires a gate whose window has ended, through the store's transition script (which refuses
 * an early expiry and applies a late one once), and tells the observers when it moved. Used by
 * the expiry timers and by the sweeper.
 *
 * @param expected the version (and its state) the caller saw; a gate that moved on is left alone.
 */
export async function expireIfDue(
  ctx: Pick<AppContext, 'store' | 'now' | 'logger' | 'observers'>,
  gateId: string,
  options: { actor: string; expected?: { version: number; state: GateState } },
): Promise<ExpiryOutcome> {
  const now = ctx.now();
  const { actor, expected } = options;
  const reason = expected ? REASON[expected.state] : undefined;
  try {
    const result = await ctx.store.transition(gateId, {
      event: 'expire',
      now,
      ...(expected ? { expectedVersion: expected.version } : {}),
      set: { resolution: JSON.stringify({ event: 'expire', actor, at: now, ...(reason ? { reason } : {}) }) },
      audit: { event: 'expire', actor, at: now, ...(reason ? { reason } : {}) },
    });
    if (result.kind === 'noop') return { kind: 'already', gate: result.gate };
    ctx.logger.info(
      { gateId, agentId: result.gate.agentId, agentSession: result.gate.request.context.agentSession, event: 'expire', actor, from: result.from },
      'gate expired',
    );
    // Claimed first, so a read or another timer finding it expired at this moment stays quiet
    // (see announceExpiry); marked afterwards.
    if (await ctx.store.claimExpiryAnnouncement(gateId, now)) {
      await notify(ctx, { gate: result.gate, event: 'expire', from: result.from, actor });
      await ctx.store.markExpiryAnnounced(gateId, now);
    }
    return { kind: 'expired', gate: result.gate };
  } catch (err) {
    if (isCountersignError(err, ErrorCode.GateNotFound)) return { kind: 'gone' };
    if (isCountersignError(err, ErrorCode.GateConflict)) {
      const deadline = err.details.deadline;
      return typeof deadline === 'number' ? { kind: 'early', deadline } : { kind: 'moved_on' };
    }
    throw err;
  }
}
