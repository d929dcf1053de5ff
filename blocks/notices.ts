import { activeDeadline, type Gate } from '../src/core/gate.js';
import { shown, shownCode, voterSummary } from './change-record-parts.js';
import { code, escapeMrkdwn, mrkdwn, plural, slackDate } from './format.js';
import { BLOCK_KIT } from './kit-limits.js';
import { STATE_LABEL, reviewOpen, statusLine } from './status.js';
import type { Message } from './types.js';

/** What the requester's direct message needs besides the gate. */
export interface RequesterNoticeView {
  now: number;
  /** Link to the change record (chat.getPermalink), when posted. */
  permalink?: string;
  /** The reviewer set's mention or label, e.g. `<!subteam^S0123>`. */
  reviewers?: string;
}

/** A link Slack itself handed out; anything else is left out rather than trusted. */
function link(url: string | undefined, label: string): string {
  return url && /^https?:\/\/[^\s<>|]+$/.test(url) ? ` <${url}|${label}>` : '';
}

function footer(gate: Gate): Message['blocks'][number] {
  return {
    type: 'context',
    elements: [mrkdwn(`gate ${code(gate.id, 80)} · evidence hash ${code(gate.evidenceHash, 80)}`, BLOCK_KIT.text)],
  };
}

/**
 * The direct message to the person on whose behalf the agent acts: first that a request was
 * made in their name and who reviews it; on later updates, how it ended.
 */
export function renderRequesterNotice(gate: Gate, view: RequesterNoticeView): Message {
  const req = gate.request;
  const what = `${shownCode(req.action, 140)} in ${shownCode(req.environment, 80)}`;
  const intro = `Agent ${shownCode(gate.agentId)} asked, on your behalf, to run ${what}:\n*${shown(req.summary, 300)}*`;
  let body: string;
  if (reviewOpen(gate)) {
    const needed = gate.decision.review?.quorum;
    const deadline = activeDeadline(gate);
    const who = view.reviewers ? ` by ${view.reviewers}` : '';
    const quorum = needed !== undefined ? ` (${plural(needed, 'approval')} needed)` : '';
    const until = deadline !== undefined ? ` until ${slackDate(deadline)}` : '';
    body = `:hourglass_flowing_sand: Waiting for review${who}${quorum}${until}. You cannot approve your own request.${link(view.permalink, 'Open the change record')}`;
  } else {
    body = `${statusLine(gate)}${link(view.permalink, 'Open the change record')}`;
  }
  const fallback = `${STATE_LABEL[gate.state]}: ${req.action} in ${req.environment}, requested on your behalf by agent ${escapeMrkdwn(gate.agentId)}`;
  return {
    text: fallback.slice(0, 1_000),
    blocks: [{ type: 'section', text: mrkdwn(`${intro}\n${body}`, BLOCK_KIT.text) }, footer(gate)],
  };
}

/**
 * The thread reply under the change record that records a decision for the channel's
 * history: who decided, when, and on which evidence and policy.
 */
export function renderDecisionThreadReply(gate: Gate): Message {
  const req = gate.request;
  const policy = `policy ${code(gate.decision.policyVersion, 60)}`;
  const summary = voterSummary(gate);
  return {
    text: `${STATE_LABEL[gate.state]}: ${req.action} in ${req.environment}${summary ? `, ${summary}` : ''}`.slice(0, 1_000),
    blocks: [
      { type: 'section', text: mrkdwn(statusLine(gate), BLOCK_KIT.text) },
      {
        type: 'context',
        elements: [mrkdwn(`gate ${code(gate.id, 80)} · evidence hash ${code(gate.evidenceHash, 80)} · ${policy}`, BLOCK_KIT.text)],
      },
    ],
  };
}
