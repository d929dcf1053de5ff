import type { VoteResult } from '../adapters/redis/gate-store.js';
import { ErrorCode, isCountersignError } from '../core/errors.js';
import { announceExpiry, notify, type AppContext } from './ports.js';

/** Kinds of refused votes that count as bypass attempts (DESIGN.md, "Dual control"). */
export const BYPASS_KIND_OF: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.SelfApproval]: 'self_approval',
  [ErrorCode.OwnerApproval]: 'owner_approval',
  [ErrorCode.NotAReviewer]: 'non_reviewer',
  [ErrorCode.DeadlinePassed]: 'late_vote',
  [ErrorCode.GateNotPending]: 'closed_gate_vote',
};

export interface CastVoteInput {
  gateId: string;
  voter: { id: string; email?: string };
  vote: 'approve' | 'deny';
  reason?: string;
}

/**
 * A reviewer approves or denies. The store's script enforces every rule; this use case
 * reports the outcome to observers (Slack message, requester, agent callback) and records
 * refusals by kind. Refusals are rethrown for the edge to explain to the voter.
 */
export async function castVote(ctx: AppContext, input: CastVoteInput): Promise<VoteResult> {
  const now = ctx.now();
  const actor = `slack:${input.voter.id}`;
  let result: VoteResult;
  try {
    result = await ctx.store.vote(input.gateId, {
      voter: input.voter.id,
      ...(input.voter.email ? { voterEmail: input.voter.email } : {}),
      vote: input.vote,
      now,
      ...(input.reason ? { reason: input.reason } : {}),
    });
  } catch (err) {
    if (isCountersignError(err)) {
      let kind = BYPASS_KIND_OF[err.code];
      // A click after the gate was decided by someone who voted on it (a double click, a message
      // not yet updated) is no attempt to get around anything.
      if (err.code === ErrorCode.GateNotPending && (await ctx.store.read(input.gateId))?.votes.some((v) => v.voter === input.voter.id)) kind = undefined;
      ctx.logger.warn(
        { gateId: input.gateId, actor, event: 'vote_refused', code: err.code, bypass: kind ?? null },
        `vote refused: ${err.message}`,
      );
      if (kind) ctx.metrics?.bypassAttempt(kind);
      if (err.code === ErrorCode.DeadlinePassed) {
        const gate = await ctx.store.read(input.gateId);
        if (gate) await announceExpiry(ctx, gate, 'pending_review');
      }
    }
    throw err;
  }
  const event = result.kind === 'decided' ? (result.gate.state === 'approved' ? 'approve' : 'deny') : 'vote';
  ctx.logger.info(
    {
      gateId: input.gateId,
      agentId: result.gate.agentId,
      agentSession: result.gate.request.context.agentSession,
      workflowId: result.gate.request.context.workflowId,
      actor,
      event,
      vote: input.vote,
      state: result.gate.state,
    },
    result.kind === 'decided' ? `gate ${result.gate.state}` : 'vote counted',
  );
  await notify(ctx, { gate: result.gate, event, from: 'pending_review', actor });
  return result;
}
