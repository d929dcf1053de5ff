import type { App, BlockAction, ButtonAction, ViewSubmitAction } from '@slack/bolt';
import { ACTION_APPROVE, ACTION_DENY, ACTION_VIEW_EVIDENCE } from '../../../blocks/change-record.js';
import { CALLBACK_DENY, DENY_REASON_ACTION, DENY_REASON_BLOCK, DENY_REASON_MAX, parseDenyModalMetadata, renderDenyModal } from '../../../blocks/deny-modal.js';
import { ACTION_EVIDENCE_NEXT, ACTION_EVIDENCE_PREVIOUS, parseEvidenceModalMetadata, renderEvidenceModal } from '../../../blocks/evidence-modal.js';
import { castVote } from '../../app/cast-vote.js';
import type { AppContext } from '../../app/ports.js';
import { CountersignError, ErrorCode, isCountersignError } from '../../core/errors.js';
import { GATE_ID } from '../../core/ids.js';
import type { ReviewerDirectory } from './reviewer-directory.js';
import { NOTE_MESSAGE } from './slack-broker.js';
import type { MessageRef, SlackWrites } from './slack-writes.js';
import { settleWithin } from '../redis/settle-within.js';

/** How long a deny's vote may take before the modal closes without waiting for it (Slack allows 3 s). */
const DENY_ANSWER_WITHIN_MS = 2_000;

/** Slack errors for an ephemeral message to someone it cannot reach in that channel. */
const NOT_THERE = new Set(['user_not_in_channel', 'channel_not_found', 'not_in_channel', 'is_archived']);

/** A refusal as a modal's input error shows it: plain text, without the leading emoji code. */
const plainRefusal = (text: string) => text.replace(/^:[a-z_]+: /, '');

/** What a refused vote tells the voter (ephemeral), by error code. */
export function refusalText(err: unknown): string {
  if (!isCountersignError(err)) return ':warning: Your vote could not be recorded because of an internal error. Nothing changed; please try again.';
  switch (err.code) {
    case ErrorCode.SelfApproval:
      if (err.details.identity === 'unknown') {
        return ':warning: Your vote was not counted: Slack did not give your email, and the requester has no Slack account on record, so it cannot be checked that this request is not yours. Try again in a moment.';
      }
      return ':no_entry: You cannot review this request: it was made on your behalf. Someone else in the reviewer set has to decide.';
    case ErrorCode.OwnerApproval:
      return ":no_entry: You cannot review this request: you own the agent that asked, and this policy needs someone independent.";
    case ErrorCode.NotAReviewer:
      return ':no_entry: Your vote was not counted: you are not in the reviewer set for this request.';
    case ErrorCode.AlreadyVoted:
      return `:information_source: You already voted on this request (${String(err.details.previous ?? 'recorded')}). Each person counts once.`;
    case ErrorCode.DeadlinePassed:
      return ':hourglass: The review window has ended; the request expired and your vote was not counted. The agent has to ask again.';
    case ErrorCode.GateNotPending: {
      const state = String(err.details.state ?? 'closed');
      if (state === 'invalidated') return ':warning: The evidence changed after this request was posted, so the approval is void. Your vote was not counted.';
      return `:information_source: This request is already ${state.replace('_', ' ')}; votes are closed.`;
    }
    case ErrorCode.GateNotFound:
      return ':grey_question: This request no longer exists.';
    default:
      return `:warning: Your vote was not counted: ${err.message}`;
  }
}

export interface InteractionDeps {
  ctx: AppContext;
  writes: SlackWrites;
  directory: ReviewerDirectory;
}

/**
 * Registers the reviewer-facing handlers. Each acknowledges first (Slack allows 3 s) and then
 * works; every decision is the store's atomic vote script, so retries and double clicks are safe.
 */
export function registerInteractions(app: App, deps: InteractionDeps): void {
  const { ctx, writes, directory } = deps;

  const gateIdOf = (value: string | undefined): string => {
    if (!value || !GATE_ID.test(value)) throw new CountersignError(ErrorCode.GateNotFound, 'no such gate');
    return value;
  };

  /**
   * Tells one person, privately, where the message is; in a DM when there is no such place or
   * the person cannot be reached there (someone voting from App Home need not be in the
   * approvals channel, and Slack refuses an ephemeral message to a non-member).
   */
  const tellVoter = async (user: string, channel: string | undefined, text: string) => {
    try {
      if (channel) {
        try {
          await writes.ephemeral(channel, user, text);
          return;
        } catch (err) {
          if (!NOT_THERE.has((err as { data?: { error?: string } }).data?.error ?? '')) throw err;
        }
      }
      await writes.dm(user, { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] });
    } catch (err) {
      ctx.logger.warn({ err, user }, 'could not tell the voter why');
    }
  };

  /** Casts the vote; a refusal is answered with its text (undefined when the vote counted). */
  const castFor = async (gateId: string, user: string, choice: 'approve' | 'deny', reason?: string): Promise<string | undefined> => {
    try {
      const email = await directory.emailOf(user);
      await castVote(ctx, { gateId, voter: { id: user, ...(email ? { email } : {}) }, vote: choice, ...(reason ? { reason } : {}) });
      return undefined;
    } catch (err) {
      if (!isCountersignError(err)) ctx.logger.error({ err, gateId, user }, 'vote failed');
      return refusalText(err);
    }
  };

  const vote = async (gateId: string, user: string, choice: 'approve' | 'deny', channel: string | undefined, reason?: string) => {
    const refused = await castFor(gateId, user, choice, reason);
    if (refused) await tellVoter(user, channel, refused);
  };

  app.action<BlockAction<ButtonAction>>(ACTION_APPROVE, async ({ ack, body, action }) => {
    await ack();
    await vote(action.value ?? '', body.user.id, 'approve', body.channel?.id);
  });

  app.action<BlockAction<ButtonAction>>(ACTION_DENY, async ({ ack, body, action }) => {
    await ack();
    try {
      const gate = await ctx.store.get(gateIdOf(action.value), ctx.now());
      if (!gate) throw new CountersignError(ErrorCode.GateNotFound, 'no such gate');
      if (gate.state !== 'pending_review') {
        throw new CountersignError(ErrorCode.GateNotPending, 'closed', { details: { state: gate.state } });
      }
      await writes.openView(body.trigger_id, renderDenyModal(gate));
    } catch (err) {
      await tellVoter(body.user.id, body.channel?.id, refusalText(err));
    }
  });

  app.view<ViewSubmitAction>(CALLBACK_DENY, async ({ ack, body, view }) => {
    const reason = view.state.values[DENY_REASON_BLOCK]?.[DENY_REASON_ACTION]?.value?.trim() ?? '';
    if (reason.length === 0) {
      await ack({ response_action: 'errors', errors: { [DENY_REASON_BLOCK]: 'A reason is required: the agent and the audit trail receive it.' } });
      return;
    }
    // The modal's max_length is the client's; the server holds the same line.
    if (reason.length > DENY_REASON_MAX) {
      await ack({ response_action: 'errors', errors: { [DENY_REASON_BLOCK]: `At most ${DENY_REASON_MAX} characters, please.` } });
      return;
    }
    const meta = parseDenyModalMetadata(view.private_metadata);
    if (!meta) {
      await ack();
      return;
    }
    // The vote is cast before the modal closes, so a refusal (the gate was decided meanwhile,
    // the window ended) shows in the modal itself. Slack waits 3 s for the answer: a vote that
    // takes longer closes the modal and its refusal comes as a message instead.
    const casting = castFor(meta.gateId, body.user.id, 'deny', reason);
    const inTime = await settleWithin(casting, DENY_ANSWER_WITHIN_MS);
    if (inTime) {
      const refused = await casting;
      await ack(refused ? { response_action: 'errors', errors: { [DENY_REASON_BLOCK]: plainRefusal(refused) } } : undefined);
      return;
    }
    await ack();
    const refused = await casting;
    if (!refused) return;
    const gate = await ctx.store.read(meta.gateId);
    const ref = gate?.annotations[NOTE_MESSAGE] as MessageRef | undefined;
    await tellVoter(body.user.id, ref?.channel, refused);
  });

  app.action<BlockAction<ButtonAction>>(ACTION_VIEW_EVIDENCE, async ({ ack, body, action }) => {
    await ack();
    try {
      const gate = await ctx.store.read(gateIdOf(action.value));
      if (!gate) throw new CountersignError(ErrorCode.GateNotFound, 'no such gate');
      await writes.openView(body.trigger_id, renderEvidenceModal(gate, 0));
    } catch (err) {
      await tellVoter(body.user.id, body.channel?.id, refusalText(err));
    }
  });

  const page = async (body: BlockAction<ButtonAction>, action: ButtonAction) => {
    const meta = body.view ? parseEvidenceModalMetadata(body.view.private_metadata) : undefined;
    if (!meta || !body.view) return;
    const gate = await ctx.store.read(meta.gateId);
    if (!gate) return;
    await writes.updateView(body.view.id, renderEvidenceModal(gate, Number(action.value)), body.view.hash);
  };
  app.action<BlockAction<ButtonAction>>(ACTION_EVIDENCE_NEXT, async ({ ack, body, action }) => {
    await ack();
    await page(body, action);
  });
  app.action<BlockAction<ButtonAction>>(ACTION_EVIDENCE_PREVIOUS, async ({ ack, body, action }) => {
    await ack();
    await page(body, action);
  });
}
