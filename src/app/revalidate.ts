import { NOTE_NOTICE } from '../adapters/slack/slack-broker.js';
import { ErrorCode, isCountersignError } from '../core/errors.js';
import { activeDeadline, type Gate } from '../core/gate.js';
import { announceExpiry, notify, type AppContext } from './ports.js';

/** Asks the agent for the evidence hash of what it would run now. */
export interface EvidenceProbe {
  /** Throws `EvidenceProbeFailed` when the agent cannot be reached or answers nonsense. */
  currentHash(gate: Gate): Promise<string>;
}

/** The agent's revalidation endpoint could not be asked. Never read as "unchanged". */
export class EvidenceProbeFailed extends Error {
  override readonly name = 'EvidenceProbeFailed';
}

export type RevalidationOutcome =
  | { kind: 'unchanged'; gate: Gate }
  /** The evidence drifted: the gate is now `invalidated` (by this call or an earlier one). */
  | { kind: 'drifted'; gate: Gate; reviewed: string; current: string }
  | { kind: 'skipped'; reason: 'gone' | 'not_waiting' | 'no_url'; gate?: Gate };

const WAITING = new Set<Gate['state']>(['pending_review', 'approved']);

/** What the change record says when revalidation voids a gate. */
export function driftNote(gate: Gate, current: string): string {
  const what = gate.state === 'approved' ? 'approved' : 'under review';
  return `evidence changed, approval void: ${what} ${gate.evidenceHash} now ${current}`;
}

/**
 * Revalidation: while a gate waits, the agent is asked for the hash of what it would run now
 * (at redeem the agent presents that hash itself, and the redeem script compares it). A different hash voids the gate (`invalidated`), says so
 * on the change record, and the observers tell the agent. A failed probe throws
 * `EvidenceProbeFailed`: the caller retries, and must never treat it as approval.
 */
export async function revalidateGate(ctx: AppContext, probe: EvidenceProbe, gateId: string): Promise<RevalidationOutcome> {
  const gate = await ctx.store.read(gateId);
  if (!gate) return { kind: 'skipped', reason: 'gone' };
  // A window that has ended is the timers' to apply (they announce it); nothing to ask then.
  const deadline = activeDeadline(gate);
  if (!WAITING.has(gate.state) || (deadline !== undefined && ctx.now() >= deadline)) return { kind: 'skipped', reason: 'not_waiting', gate };
  if (!gate.delivery.revalidateUrl) return { kind: 'skipped', reason: 'no_url', gate };

  const current = await probe.currentHash(gate);
  if (current === gate.evidenceHash) return { kind: 'unchanged', gate };

  const now = ctx.now();
  const actor = 'system:revalidation';
  const note = driftNote(gate, current);
  try {
    const result = await ctx.store.transition(gateId, {
      event: 'invalidate',
      now,
      set: { resolution: JSON.stringify({ event: 'invalidate', actor, at: now, reason: `reviewed ${gate.evidenceHash}, now ${current}` }) },
      audit: { event: 'invalidate', actor, at: now, reviewed: gate.evidenceHash, current },
      // With the move, so that no rendering of the invalidated gate lacks it.
      notes: { [NOTE_NOTICE]: note },
    });
    if (result.kind === 'moved') {
      ctx.logger.warn(
        { gateId, agentId: gate.agentId, agentSession: gate.request.context.agentSession, event: 'invalidate', actor, reviewed: gate.evidenceHash, current },
        'evidence drifted: gate invalidated',
      );
      await notify(ctx, { gate: result.gate, event: 'invalidate', from: result.from, actor });
    }
    return { kind: 'drifted', gate: result.gate, reviewed: gate.evidenceHash, current };
  } catch (err) {
    if (isCountersignError(err, ErrorCode.DeadlinePassed)) {
      // The window ended while we asked: the gate is expired now, and nobody else was told.
      const expired = await ctx.store.read(gateId);
      if (expired) await announceExpiry(ctx, expired, gate.state);
      return { kind: 'skipped', reason: 'not_waiting', ...(expired ? { gate: expired } : {}) };
    }
    if (isCountersignError(err, ErrorCode.GateConflict)) {
      const moved = await ctx.store.read(gateId);
      return { kind: 'skipped', reason: 'not_waiting', ...(moved ? { gate: moved } : {}) };
    }
    throw err;
  }
}
