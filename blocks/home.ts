import { activeDeadline, type Gate } from '../src/core/gate.js';
import { RISK_EMOJI, shown, shownCode } from './change-record-parts.js';
import { boundedList, code, mrkdwn, plain, plural, slackDate } from './format.js';
import { ACTION_APPROVE, ACTION_DENY, ACTION_VIEW_EVIDENCE } from './ids.js';
import { BLOCK_KIT } from './kit-limits.js';
import { STATE_LABEL, statusLine } from './status.js';
import type { ActionsBlock, Block, Button, HomeView } from './types.js';

/** At most this many pending reviews get their own buttons; the rest are counted and linked. */
export const HOME_PENDING_CAP = 15;
/** At most this many recent requests are listed. */
export const HOME_REQUESTS_CAP = 10;

/** Team figures for the window shown on App Home. */
export interface HomeFigures {
  days: number;
  requests: number;
  /** Share of requests that needed a human (0–1). */
  reviewShare: number;
  approvalRate?: number;
  medianLatencyMs?: number;
  denied: number;
  expired: number;
  /** Of `expired`: no decision within the review window. */
  reviewExpired?: number;
  drift: number;
  breakGlass: number;
  /** The viewer's own decisions in the window. */
  myApprovals: number;
  myDenials: number;
}

/** Everything the App Home tab shows, resolved by the Slack edge. */
export interface HomeViewInput {
  now: number;
  /** Gates waiting for this person's review, soonest deadline first (at most the cap are used). */
  pending: Gate[];
  /** How many gates wait for this person in all. */
  pendingTotal: number;
  /** Gates requested on this person's behalf, newest first. */
  requests: Gate[];
  figures: HomeFigures;
  /** Runtime freezes and a global observe mode, shown as a banner. */
  notices?: string[];
  /** Where the rest of the pending reviews can be seen (e.g. an approvals channel), as mrkdwn. */
  moreLink?: string;
}

const pct = (v: number | undefined) => (v === undefined ? '—' : `${Math.round(v * 100)}%`);

function duration(ms: number | undefined): string {
  if (ms === undefined) return '—';
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** One line about a gate: action, environment, summary, risk. Agent text is masked and escaped. */
function gateLine(gate: Gate, max: number): string {
  const req = gate.request;
  const risk = gate.decision.risk.level;
  return `${RISK_EMOJI[risk] ?? ''} ${shownCode(req.action, 80)} in ${shownCode(req.environment, 60)} · ${shown(req.summary, Math.max(40, max - 200))}`;
}

function pendingBlocks(gate: Gate, now: number): Block[] {
  const deadline = activeDeadline(gate);
  const review = gate.decision.review;
  const approvals = gate.votes.filter((v) => v.vote === 'approve').length;
  const facts = [
    `requested by ${shown(gate.request.context.requester.email, 120)} via agent ${shownCode(gate.agentId, 80)}`,
    review ? `${approvals} of ${plural(review.quorum, 'approval')}` : undefined,
    deadline !== undefined ? `review by ${slackDate(deadline)}${now > deadline ? ' (passed)' : ''}` : undefined,
  ].filter(Boolean);
  const buttons: Button[] = [
    { type: 'button', action_id: ACTION_APPROVE, text: plain('Approve', BLOCK_KIT.buttonText), style: 'primary', value: gate.id },
    { type: 'button', action_id: ACTION_DENY, text: plain('Deny', BLOCK_KIT.buttonText), style: 'danger', value: gate.id },
    { type: 'button', action_id: ACTION_VIEW_EVIDENCE, text: plain('View evidence', BLOCK_KIT.buttonText), value: gate.id },
  ];
  const level = gate.decision.risk.level;
  if (level === 'high' || level === 'critical') {
    // Approving from Home, away from the change record, asks once more what exactly is approved.
    buttons[0]!.confirm = {
      title: plain(`Approve ${gate.request.action}?`, BLOCK_KIT.confirmTitle),
      text: mrkdwn(`You approve exactly ${code(gate.request.action, 60)} in ${code(gate.request.environment, 40)}, evidence ${code(`${gate.evidenceHash.slice(0, 19)}…`, 30)}. Risk: *${level}*.`, BLOCK_KIT.confirmText),
      confirm: plain('Approve', BLOCK_KIT.confirmButton),
      deny: plain('Go back', BLOCK_KIT.confirmButton),
      style: 'primary',
    };
  }
  const actions: ActionsBlock = { type: 'actions', block_id: `home_review_${gate.id}`.slice(0, BLOCK_KIT.blockId), elements: buttons };
  return [
    { type: 'section', text: mrkdwn(`${gateLine(gate, 700)}\n${facts.join(' · ')}`, BLOCK_KIT.text) },
    actions,
  ];
}

function requestLine(gate: Gate): string {
  const status = gate.state === 'pending_review' ? `:hourglass_flowing_sand: ${STATE_LABEL[gate.state]}` : statusLine(gate);
  return `${gateLine(gate, 400)} · ${slackDate(gate.createdAt)}\n      ${status.slice(0, 400)}`;
}

/**
 * The App Home tab: the viewer's pending reviews with the change record's own buttons, their
 * recent requests, and the team's figures for the last days. Whatever the counts, it stays
 * within Slack's view limits: reviews beyond {@link HOME_PENDING_CAP} are counted, not shown.
 */
export function renderHome(input: HomeViewInput): HomeView {
  const blocks: Block[] = [{ type: 'header', text: plain('Countersign', BLOCK_KIT.headerText) }];
  for (const notice of (input.notices ?? []).slice(0, 5)) {
    blocks.push({ type: 'section', text: mrkdwn(`:snowflake: ${notice}`, BLOCK_KIT.text) });
  }

  blocks.push({ type: 'header', text: plain(`Waiting for your review (${input.pendingTotal})`, BLOCK_KIT.headerText) });
  const shownPending = input.pending.slice(0, HOME_PENDING_CAP);
  if (shownPending.length === 0) blocks.push({ type: 'section', text: mrkdwn('Nothing waits for you. :tada:', BLOCK_KIT.text) });
  for (const gate of shownPending) blocks.push(...pendingBlocks(gate, input.now));
  const rest = input.pendingTotal - shownPending.length;
  if (rest > 0) {
    const where = input.moreLink ? ` See ${input.moreLink}, or run \`/countersign pending\`.` : ' Run `/countersign pending` to list them.';
    blocks.push({ type: 'context', elements: [mrkdwn(`+${rest} more waiting for you, soonest deadline shown first.${where}`, BLOCK_KIT.text)] });
  }

  blocks.push({ type: 'divider' }, { type: 'header', text: plain('Your recent requests', BLOCK_KIT.headerText) });
  const requests = input.requests.slice(0, HOME_REQUESTS_CAP);
  blocks.push({
    type: 'section',
    text: mrkdwn(requests.length === 0 ? 'No agent has asked on your behalf recently.' : boundedList(requests.map(requestLine), BLOCK_KIT.text - 50), BLOCK_KIT.text),
  });

  const f = input.figures;
  const smell = f.requests > 0 && f.reviewShare > 0.15 ? ' :warning: more than 15 %: policy may be too coarse' : '';
  blocks.push(
    { type: 'divider' },
    { type: 'header', text: plain(`Team, last ${f.days} days`, BLOCK_KIT.headerText) },
    {
      type: 'section',
      fields: [
        mrkdwn(`*Requests*\n${f.requests}`, BLOCK_KIT.sectionFieldText),
        mrkdwn(`*Needed a human*\n${pct(f.reviewShare)}${smell}`, BLOCK_KIT.sectionFieldText),
        mrkdwn(`*Approval rate*\n${pct(f.approvalRate)}`, BLOCK_KIT.sectionFieldText),
        mrkdwn(`*Median time to decision*\n${duration(f.medianLatencyMs)}`, BLOCK_KIT.sectionFieldText),
        mrkdwn(`*Denied*\n${f.denied}`, BLOCK_KIT.sectionFieldText),
        mrkdwn(`*Expired*\n${f.expired}${f.reviewExpired !== undefined && f.expired > 0 ? ` (${f.reviewExpired} undecided, ${f.expired - f.reviewExpired} unredeemed)` : ''}`, BLOCK_KIT.sectionFieldText),
        mrkdwn(`*Evidence drift*\n${f.drift}`, BLOCK_KIT.sectionFieldText),
        mrkdwn(`*Break-glass*\n${f.breakGlass}`, BLOCK_KIT.sectionFieldText),
        mrkdwn(`*Your approvals*\n${f.myApprovals}`, BLOCK_KIT.sectionFieldText),
        mrkdwn(`*Your denials*\n${f.myDenials}`, BLOCK_KIT.sectionFieldText),
      ],
    },
  );
  return { type: 'home', callback_id: 'countersign_home', blocks };
}
