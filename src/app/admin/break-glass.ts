import { POST_HOC_REVIEWERS, type PostHocRecord, type PostHocReview } from '../../adapters/admin/post-hoc-reviews.js';
import { CountersignError, ErrorCode } from '../../core/errors.js';
import type { Gate } from '../../core/gate.js';
import { mailboxOf } from '../../core/mailbox.js';
import { notify } from '../ports.js';
import { actorName, recordAppliedAdminAction, type AdminActor, type AdminContext } from './admin-context.js';

/** The gate note holding the requester's Slack id (written by the Slack change record). */
const NOTE_REQUESTER = 'requesterSlackId';

/** Shortest justification accepted: a break-glass must say why, in words someone can check later. */
export const MIN_JUSTIFICATION = 15;

/** Why a break-glass was refused (in `details.refusal`). */
export type BreakGlassRefusal = 'protected_target' | 'not_permitted' | 'own_request' | 'agent_owner' | 'identity_unknown' | 'justification';

function refuse(refusal: BreakGlassRefusal, message: string, gateId: string): never {
  throw new CountersignError(ErrorCode.GateConflict, message, { details: { gateId, refusal } });
}

/**
 * An admin approves a waiting gate without its reviewers (DESIGN.md, "States"): only where the
 * policy permits it, never on a protected target, never on one's own request (nor by the agent's
 * owner where the policy excludes owners), and always with a written justification. The move is the store's atomic transition (event `break_glass`, with its
 * audit entry); then the security channel is told and a post-hoc review by two people is opened,
 * reminded until done.
 */
export async function breakGlass(admin: AdminContext, input: { gateId: string; actor: AdminActor; justification: string }): Promise<{ gate: Gate; review: PostHocRecord | undefined }> {
  const { app } = admin;
  const now = app.now();
  const justification = input.justification.trim();
  const gate = await app.store.get(input.gateId, now);
  if (!gate) throw new CountersignError(ErrorCode.GateNotFound, `no gate ${input.gateId}`, { details: { gateId: input.gateId } });
  if (gate.state !== 'pending_review') {
    throw new CountersignError(ErrorCode.GateNotPending, `gate ${gate.id} is ${gate.state}; only a gate waiting for review can be break-glassed`, {
      details: { gateId: gate.id, state: gate.state },
    });
  }
  if (gate.decision.protectedTarget) refuse('protected_target', `gate ${gate.id} touches a protected target: it can never be break-glassed`, gate.id);
  if (!gate.decision.review?.breakGlassAllowed) refuse('not_permitted', `the policy does not permit break-glass for gate ${gate.id}`, gate.id);
  const own = requesterCheck(gate, input.actor);
  if (own === 'requester') refuse('own_request', `gate ${gate.id} was requested on your behalf; someone else has to break the glass`, gate.id);
  if (own === 'unknown') {
    refuse('identity_unknown', 'your email could not be read from Slack, so it cannot be checked that this request is not yours; try again', gate.id);
  }
  // Where the policy keeps the agent's owner from approving, the owner cannot break the glass either.
  const owner = gate.decision.agentOwner;
  if (gate.decision.review?.excludeAgentOwner && owner && (owner === input.actor.slackId || (owner.includes('@') && input.actor.email && mailboxOf(owner) === mailboxOf(input.actor.email)))) {
    refuse('agent_owner', `you own the agent that asked for gate ${gate.id}, and its policy excludes the owner; someone else has to break the glass`, gate.id);
  }
  if (justification.length < MIN_JUSTIFICATION) {
    refuse('justification', `a break-glass needs a justification of at least ${MIN_JUSTIFICATION} characters`, gate.id);
  }

  const actor = actorName(input.actor);
  const resolution = { event: 'break_glass', actor, at: now, reason: justification };
  const result = await app.store.transition(gate.id, {
    event: 'break_glass',
    now,
    set: { resolution: JSON.stringify(resolution), executionDeadline: now + gate.decision.executionWindowSeconds * 1000 },
    audit: { event: 'break_glass', actor, at: now, justification, postHocReviewers: POST_HOC_REVIEWERS },
  });
  if (result.kind !== 'moved') return { gate: result.gate, review: await admin.postHoc.get(gate.id) };

  app.logger.warn(
    { gateId: gate.id, agentId: gate.agentId, agentSession: gate.request.context.agentSession, workflowId: gate.request.context.workflowId, actor, event: 'break_glass' },
    'break-glass: review bypassed',
  );
  await admin.postHoc.open(
    { gateId: gate.id, actor, justification, openedAt: now, action: gate.request.action, environment: gate.request.environment },
    now + admin.postHocRemindEveryMs,
  );
  await notify(app, { gate: result.gate, event: 'break_glass', from: result.from, actor });
  const channel = admin.policy().defaults.securityChannel;
  try {
    const ref = await admin.security?.announceBreakGlass({ gateId: gate.id, channel, actor, justification, reviewersNeeded: POST_HOC_REVIEWERS });
    if (ref) await admin.postHoc.setAnnouncement(gate.id, ref);
  } catch (err) {
    // The gate is approved and audited; the reminders post the announcement, from the next
    // check on (about a minute) rather than at the first reminder hours later.
    app.logger.error({ err, gateId: gate.id, channel }, 'could not announce the break-glass in the security channel; trying again within a minute');
    await admin.postHoc.remindAt(gate.id, now).catch(() => undefined);
  }
  // After the announcement: the security channel hears of it even when this record fails.
  await recordAppliedAdminAction(admin, input.actor, 'break-glass', { gateId: gate.id, justification }, 'approved');
  return { gate: result.gate, review: await admin.postHoc.get(gate.id) };
}

/** Why a post-hoc review was refused (in `details.refusal`). */
export type PostHocRefusal = 'no_break_glass' | 'own_break_glass' | 'own_request' | 'identity_unknown' | 'already_reviewed' | 'not_a_reviewer';

/**
 * Someone reviews a break-glass afterwards. A reviewer is an admin or a member of the gate's
 * reviewer set, and neither the person who broke the glass nor the requester.
 */
export async function reviewBreakGlass(
  admin: AdminContext,
  input: { gateId: string; actor: AdminActor; isAdmin: boolean; verdict: PostHocReview['verdict']; note: string },
): Promise<PostHocRecord> {
  const { app } = admin;
  const fail = (refusal: PostHocRefusal, message: string): never => {
    throw new CountersignError(ErrorCode.GateConflict, message, { details: { gateId: input.gateId, refusal } });
  };
  const record = await admin.postHoc.get(input.gateId);
  if (!record) return fail('no_break_glass', `gate ${input.gateId} has no break-glass to review`);
  const actor = actorName(input.actor);
  if (record.actor === actor) return fail('own_break_glass', 'you broke the glass on this gate; two other people have to review it');
  const gate = await app.store.read(input.gateId);
  const own = gate ? requesterCheck(gate, input.actor) : 'unknown';
  if (own === 'requester') return fail('own_request', 'this gate was requested on your behalf; you cannot review it');
  if (own === 'unknown') return fail('identity_unknown', 'your email could not be read from Slack (or the gate is gone), so it cannot be checked that this request is not yours; try again');
  if (!input.isAdmin && !(await app.store.reviewers(input.gateId)).has(input.actor.slackId)) {
    return fail('not_a_reviewer', "only admins and the gate's reviewers can review a break-glass");
  }
  const now = app.now();
  const { added, record: after } = await admin.postHoc.review(input.gateId, { reviewer: input.actor.slackId, verdict: input.verdict, note: input.note.trim(), at: now });
  if (!added) return fail('already_reviewed', 'you reviewed this break-glass already; each person counts once');
  await admin.audit.admin({ event: 'break_glass_review', actor, at: now, gateId: input.gateId, verdict: input.verdict, note: input.note.trim(), reviews: after.reviews.length });
  return after;
}

/**
 * Whether the actor is the person the gate was requested for, as the vote script decides it:
 * by Slack id (the one the change record resolved from the requester's email, or the one the
 * agent sent) or by email. 'unknown' when the actor's email could not be read: a bypass must
 * fail closed, not pass because a lookup failed.
 */
function requesterCheck(gate: Gate, actor: AdminActor): 'requester' | 'other' | 'unknown' {
  const requester = gate.request.context.requester;
  const slackIds = [gate.annotations[NOTE_REQUESTER], requester.slackUserId].filter((id) => typeof id === 'string');
  if (slackIds.includes(actor.slackId)) return 'requester';
  if (!actor.email) return 'unknown';
  return mailboxOf(actor.email) === mailboxOf(requester.email) ? 'requester' : 'other';
}
