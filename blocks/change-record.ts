import type { Gate } from '../src/core/gate.js';
import {
  factFields,
  permissionsText,
  resourcesText,
  riskAndPolicyText,
  shown,
  shownQuote,
  votesText,
  type QuorumProgress,
} from './change-record-parts.js';
import { evidenceText, headOf } from './evidence.js';
import { code, escapeTruncate, mrkdwn, plain, plural, revealInvisible, TRUNCATED } from './format.js';
import { ACTION_APPROVE, ACTION_DENY, ACTION_VIEW_EVIDENCE, BLOCK_GATE_ACTIONS } from './ids.js';
import { BLOCK_KIT, BUDGET } from './kit-limits.js';
import { MASK } from './mask.js';
import { STATE_LABEL, reviewOpen, statusLine } from './status.js';
import type { ActionsBlock, Block, Button, Message, RichTextBlock } from './types.js';
import { blockTextLength } from './validate.js';

export { ACTION_APPROVE, ACTION_DENY, ACTION_VIEW_EVIDENCE, BLOCK_GATE_ACTIONS } from './ids.js';
export type { QuorumProgress } from './change-record-parts.js';

/** What the change record needs besides the gate: facts the Slack edge resolved, and the clock. */
export interface ChangeRecordView {
  /** Epoch ms (for "the review window has passed"). */
  now: number;
  /** The reviewer set's mention, e.g. `<!subteam^S0123>`; shown as is (it is ours, not the agent's). */
  reviewerMention?: string;
  /** The requester's Slack user id, when their email resolved to one. */
  requesterSlackId?: string;
  /** A readable name for the reviewer set, e.g. `payments-oncall`. */
  reviewerSetLabel?: string;
  quorumProgress: QuorumProgress;
  /** A notice shown at the top, e.g. `evidence changed, approval void: …`. */
  note?: string;
}

/** Largest preview of one evidence section, and of all of them together. */
const PREVIEW_SECTION = BUDGET.preformattedChunk;
const PREVIEW_TOTAL = 4_000;

function approveButton(gate: Gate): Button {
  const button: Button = { type: 'button', action_id: ACTION_APPROVE, text: plain('Approve', 75), style: 'primary', value: gate.id };
  const level = gate.decision.risk.level;
  if (level === 'high' || level === 'critical') {
    const req = gate.request;
    const text =
      `You approve exactly ${code(req.action, 60)} in ${code(req.environment, 40)} on ${plural(req.resources.length, 'resource')}, ` +
      `evidence ${code(gate.evidenceHash.slice(0, 19) + '…', 30)}. Risk: *${level}*. The agent gets a grant for this one run.`;
    button.confirm = {
      title: plain(`Approve ${req.action}?`, BLOCK_KIT.confirmTitle),
      text: mrkdwn(text, BLOCK_KIT.confirmText),
      confirm: plain('Approve', BLOCK_KIT.confirmButton),
      deny: plain('Go back', BLOCK_KIT.confirmButton),
      style: 'primary',
    };
  }
  return button;
}

function actionsBlock(gate: Gate): ActionsBlock {
  return {
    type: 'actions',
    block_id: BLOCK_GATE_ACTIONS,
    elements: [
      approveButton(gate),
      { type: 'button', action_id: ACTION_DENY, text: plain('Deny', 75), style: 'danger', value: gate.id },
      { type: 'button', action_id: ACTION_VIEW_EVIDENCE, text: plain('View evidence', 75), value: gate.id },
    ],
  };
}

/**
 * Evidence previews within `budget` characters: short sections whole, long ones cut at a line
 * break and marked, so every section gets a fair share of the room.
 */
function previewBlocks(gate: Gate, budget: number): RichTextBlock[] {
  // Invisible direction overrides would reorder a diff or command as reviewers read it: shown,
  // not applied, and counted in the budget at their shown length.
  const sections = evidenceText(gate.request.evidence).sections.map((s) => ({ ...s, text: revealInvisible(s.text) }));
  const overhead = (title: string) => title.length + 1 + TRUNCATED.length + 1;
  let room = Math.min(PREVIEW_TOTAL, budget);
  const order = sections.map((s, i) => ({ s, i })).sort((a, b) => a.s.text.length - b.s.text.length);
  const shares = new Map<number, number>();
  order.forEach(({ s, i }, k) => {
    const fair = Math.floor(room / (order.length - k)) - overhead(s.title);
    const share = Math.max(0, Math.min(s.text.length, fair, PREVIEW_SECTION - TRUNCATED.length - 1));
    shares.set(i, share);
    room -= share + overhead(s.title);
  });
  const blocks: RichTextBlock[] = [];
  sections.forEach((s, i) => {
    const share = shares.get(i) ?? 0;
    if (share < 40 && s.text.length > share) return; // no room for anything useful: the modal has it
    const head = headOf(s.text, share);
    const body = head.length < s.text.length ? `${head}${head.endsWith('\n') ? '' : '\n'}${TRUNCATED}` : head;
    blocks.push({
      type: 'rich_text',
      elements: [
        { type: 'rich_text_section', elements: [{ type: 'text', text: `${s.title}\n`, style: { bold: true } }] },
        { type: 'rich_text_preformatted', elements: [{ type: 'text', text: body }] },
      ],
    });
  });
  return blocks;
}

function countMasks(blocks: Block[]): number {
  return JSON.stringify(blocks).split(MASK).length - 1;
}

/** The fallback text: what notifications, screen readers and old clients show. */
function fallbackText(gate: Gate, view: ChangeRecordView): string {
  const req = gate.request;
  const label = STATE_LABEL[gate.state];
  const progress = view.quorumProgress;
  const votes = reviewOpen(gate) ? ` (${progress.approvals} of ${plural(progress.needed, 'approval')})` : '';
  const who = reviewOpen(gate) && view.reviewerMention ? `${view.reviewerMention} ` : '';
  // action and environment are identifiers (no mrkdwn control characters); the summary is escaped
  return `${who}${label}: ${req.action} in ${req.environment}: ${shown(req.summary, 300)}, risk ${gate.decision.risk.level}${votes}`;
}

/**
 * The change record reviewers decide on: every fact of the bounded action, the policy's
 * reasons, an evidence preview, the votes and what is still needed, and (while the review is
 * open) Approve / Deny / View evidence. Pure; always within Slack's message limits.
 */
export function renderChangeRecord(gate: Gate, view: ChangeRecordView): Message {
  const req = gate.request;
  const open = reviewOpen(gate);
  const head: Block[] = [{ type: 'header', text: plain(`${STATE_LABEL[gate.state]}: ${req.action} in ${req.environment}`, BLOCK_KIT.headerText) }];
  if (view.note) head.push({ type: 'section', text: mrkdwn(`:warning: ${escapeTruncate(view.note, 400)}`, BLOCK_KIT.text) });
  const reviewers = [view.reviewerMention, view.reviewerSetLabel ? `(${escapeTruncate(view.reviewerSetLabel, 80)})` : undefined].filter(Boolean).join(' ');
  head.push(
    { type: 'section', text: mrkdwn(`*${shown(req.summary, 300)}*${open && reviewers ? `\nReview requested from ${reviewers}` : ''}`, BLOCK_KIT.text) },
    { type: 'section', fields: factFields(gate, view.requesterSlackId, view.now) },
  );
  if (req.context.intent) head.push({ type: 'section', text: mrkdwn(`*Intent*\n${shownQuote(req.context.intent, 450)}`, BLOCK_KIT.text) });
  head.push(
    { type: 'section', text: mrkdwn(resourcesText(req), BLOCK_KIT.text) },
    { type: 'section', text: mrkdwn(permissionsText(req), BLOCK_KIT.text) },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Expected impact*\n${shownQuote(req.impact.expected, 480)}` },
        { type: 'mrkdwn', text: `*Rollback*\n${shownQuote(req.impact.rollback, 480)}` },
      ],
    },
    { type: 'section', text: mrkdwn(riskAndPolicyText(gate.decision), BLOCK_KIT.text) },
    { type: 'divider' },
  );

  const tail: Block[] = [];
  const votes = votesText(gate, view.quorumProgress, open, view.now);
  if (votes) tail.push({ type: 'section', text: mrkdwn(votes, BLOCK_KIT.text) });
  if (open) tail.push(actionsBlock(gate));
  else tail.push({ type: 'section', text: mrkdwn(statusLine(gate), BLOCK_KIT.text) });

  // The evidence line is written last, once we know how many secrets the shown text masks.
  const evidenceLine = (masked: number) => ({
    type: 'context' as const,
    elements: [
      mrkdwn(`*Evidence hash* ${code(gate.evidenceHash, 80)} · gate ${code(gate.id, 80)}`, BLOCK_KIT.text),
      ...(masked > 0 ? [mrkdwn(`:lock: ${plural(masked, 'secret')} masked in this preview; the hash covers the original`, BLOCK_KIT.text)] : []),
    ],
  });
  const used = blockTextLength([...head, ...tail, evidenceLine(999)]);
  const preview = previewBlocks(gate, BUDGET.messageBlockText - used);
  const masked = countMasks([...head, ...preview, ...tail]);
  const blocks = [...head, evidenceLine(masked), ...preview, ...tail];
  return { text: fallbackText(gate, view), blocks };
}
