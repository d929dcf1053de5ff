import type { Gate } from '../src/core/gate.js';
import { activeDeadline } from '../src/core/gate.js';
import { RISK_EMOJI, shown, shownCode } from './change-record-parts.js';
import { code, escapeTruncate, mrkdwn, person, plain, plural, slackDate } from './format.js';
import { BLOCK_KIT } from './kit-limits.js';
import { STATE_LABEL, statusLine } from './status.js';
import type { Block, Message } from './types.js';

/**
 * Replies to `/countersign` (ephemeral, only the person who ran it sees them) and the security
 * channel's break-glass messages. Everything stays within one message's limits.
 */

/** A reply of plain mrkdwn paragraphs, split into sections at Slack's text limit. */
export function replyText(text: string, fallback = text): Message {
  const blocks: Block[] = [];
  // Slack refuses a message whose block text adds up past its limit (msg_blocks_too_long):
  // keep to it, and keep room for the note of what was left out.
  let budget = BLOCK_KIT.messageBlockText - 200;
  let rest = text;
  while (rest.length > 0 && budget > 100) {
    const room = Math.min(BLOCK_KIT.text - 100, budget);
    let cut = rest.length <= room ? rest.length : rest.lastIndexOf('\n', room);
    if (cut <= 0) cut = room;
    blocks.push({ type: 'section', text: mrkdwn(rest.slice(0, cut), BLOCK_KIT.text) });
    budget -= cut;
    rest = rest.slice(cut).replace(/^\n/, '');
  }
  // Never cut silently: say how much was left out.
  if (rest.length > 0) blocks.push({ type: 'context', elements: [mrkdwn(`…and ${rest.split('\n').length} more lines (${rest.length} characters) not shown here.`, BLOCK_KIT.text)] });
  return { text: fallback.slice(0, 2_000) || ' ', blocks };
}

/** Commands everyone may run, and those only admins may run. */
export const READ_ONLY_USAGE = [
  ['help', 'this text'],
  ['pending', 'gates waiting for your review, soonest deadline first (admins: every waiting gate)'],
  ['show <gate>', 'one gate you review, requested or own the agent of (admins: any): state, decision, votes, deadlines'],
  ['mode', 'the modes in force (observe or enforce)'],
  ['policy version', 'the policy set in force and runtime overrides'],
  ['stats [7d]', 'figures for the last days (1–30)'],
  ['review <gate> ok|concern <note>', 'review a break-glass afterwards (admins and the gate’s reviewers)'],
] as const;
export const ADMIN_USAGE = [
  ['mode observe|enforce [rule]', 'switch every rule, or one rule'],
  ['mode clear [rule]', 'drop that runtime switch: the policy files decide again'],
  ['freeze <environment> <duration> <reason>', 'e.g. `freeze production 4h incident 4711`: everything there goes to review'],
  ['unfreeze <environment>|all', 'lift runtime freezes'],
  ['policy reload', 'read the policy files again, on every replica'],
  ['policy test', 'run the policy test cases'],
  ['break-glass <gate> <justification>', 'approve a waiting gate without its reviewers (where policy permits); the security channel is told and two people review it afterwards'],
  ['cancel <gate> [reason]', 'withdraw a gate'],
  ['deliveries', 'agent callbacks that ran out of attempts (parked)'],
  ['deliveries replay <gate>', 'send a gate’s parked callbacks again'],
] as const;

/** Usage help; `problem` says what was wrong with the input, when something was. */
export function renderHelp(isAdmin: boolean, problem?: string): Message {
  const line = ([cmd, what]: readonly [string, string]) => `\`/countersign ${cmd}\` — ${what}`;
  const parts = [
    ...(problem ? [`:grey_question: ${escapeTruncate(problem, 300)}`, ''] : []),
    '*Everyone*',
    ...READ_ONLY_USAGE.map(line),
    '',
    isAdmin ? '*Admins (you are one)*' : '*Admins only*',
    ...ADMIN_USAGE.map(line),
  ];
  return replyText(parts.join('\n'), problem ? `Countersign: ${problem}` : 'Countersign commands');
}

/** A refusal for a non-admin. */
export function renderNotAdmin(command: string): Message {
  return replyText(
    `:no_entry: \`${escapeTruncate(command, 40)}\` is for Countersign admins (members of the admin user group). You can use \`help\`, \`pending\`, \`show\`, \`mode\`, \`policy version\` and \`stats\`.`,
  );
}

/** One gate in a few lines. */
export function renderGate(gate: Gate, now: number): Message {
  const req = gate.request;
  const d = gate.decision;
  const deadline = activeDeadline(gate);
  const votes = gate.votes.map((v) => `${v.vote === 'approve' ? ':white_check_mark:' : ':no_entry:'} ${person(v.voter)} ${slackDate(v.at)}${v.reason ? `: ${escapeTruncate(v.reason, 200)}` : ''}`);
  const lines = [
    `*${STATE_LABEL[gate.state]}* · ${shownCode(req.action, 120)} in ${shownCode(req.environment, 60)} · gate ${code(gate.id, 40)}`,
    `*${shown(req.summary, 300)}*`,
    `Requested for ${shown(req.context.requester.email, 120)} by agent ${shownCode(gate.agentId, 80)} · ${slackDate(gate.createdAt)}`,
    `Decision: *${d.outcome}* (${d.mode}${d.shadow ? `, enforce would ${d.shadow.outcome}` : ''}) · risk ${RISK_EMOJI[d.risk.level] ?? ''} ${d.risk.level}${d.review ? ` · ${plural(d.review.quorum, 'approval')} from ${code(d.review.reviewerSet, 60)}` : ''}${d.protectedTarget ? ' · protected target' : ''}`,
    `Rules: ${d.rules.map((r) => code(r.rule, 60)).join(', ') || '—'}`,
    ...(deadline !== undefined ? [`${gate.state === 'approved' ? 'Redeem' : 'Review'} by ${slackDate(deadline)}${now > deadline ? ' (passed)' : ''}`] : []),
    ...(votes.length > 0 ? ['Votes:', ...votes.slice(0, 10)] : []),
    gate.state === 'pending_review' ? '' : statusLine(gate),
    `Evidence ${code(gate.evidenceHash, 80)}`,
  ].filter((l) => l !== '');
  return replyText(lines.join('\n'), `${STATE_LABEL[gate.state]}: ${req.action} in ${req.environment} (${gate.id})`);
}

/** Gates waiting for review, one line each. */
export function renderPending(gates: Gate[], total: number, now: number, scope: 'all' | 'yours' = 'all'): Message {
  if (total === 0) return replyText(scope === 'yours' ? 'Nothing is waiting for your review. :tada:' : 'Nothing is waiting for review. :tada:');
  const lines = gates.map((g) => {
    const deadline = activeDeadline(g);
    const approvals = g.votes.filter((v) => v.vote === 'approve').length;
    const needed = g.decision.review?.quorum ?? 1;
    return `• ${code(g.id, 40)} ${shownCode(g.request.action, 80)} in ${shownCode(g.request.environment, 40)} · ${approvals}/${needed} · ${deadline ? `by ${slackDate(deadline)}${now > deadline ? ' (passed)' : ''}` : ''}\n   ${shown(g.request.summary, 160)}`;
  });
  const more = total > gates.length ? `\n…and ${total - gates.length} more.` : '';
  const what = scope === 'yours' ? 'waiting for your review' : 'waiting for review';
  return replyText(`*${plural(total, 'gate')} ${what}*\n${lines.join('\n')}${more}`, `${total} gates ${what}`);
}

/** The security channel's announcement of a break-glass. */
export function renderBreakGlassAnnouncement(gate: Gate, input: { actor: string; justification: string; reviewersNeeded: number }): Message {
  const req = gate.request;
  const who = person(input.actor.replace(/^slack:/, ''));
  const blocks: Block[] = [
    { type: 'header', text: plain(`Break-glass: ${req.action} in ${req.environment}`, BLOCK_KIT.headerText) },
    {
      type: 'section',
      text: mrkdwn(
        `${who} approved gate ${code(gate.id, 40)} without its reviewers.\n*${shown(req.summary, 300)}*\nRequested for ${shown(req.context.requester.email, 120)} by agent ${shownCode(gate.agentId, 80)} · risk ${gate.decision.risk.level}\n*Justification*\n>${escapeTruncate(input.justification, 1_500)}`,
        BLOCK_KIT.text,
      ),
    },
    {
      type: 'section',
      text: mrkdwn(
        `:mag: *Review needed afterwards:* ${plural(input.reviewersNeeded, 'person', 'people')} other than ${who}. Reply with \`/countersign review ${gate.id} ok|concern <note>\`. Reminders follow in this thread until it is done.`,
        BLOCK_KIT.text,
      ),
    },
    { type: 'context', elements: [mrkdwn(`evidence ${code(gate.evidenceHash, 80)} · policy ${code(gate.decision.policyVersion, 60)}`, BLOCK_KIT.text)] },
  ];
  return { text: `Break-glass on ${req.action} in ${req.environment} (${gate.id}) by ${input.actor}`, blocks };
}

/** A reminder, in the announcement's thread, that a break-glass still waits for its review. */
export function renderPostHocReminder(input: { gateId: string; reviews: number; needed: number; openedAt: number }): Message {
  const missing = input.needed - input.reviews;
  return replyText(
    `:alarm_clock: The break-glass on gate ${code(input.gateId, 40)} (${slackDate(input.openedAt)}) still needs ${plural(missing, 'review')}: \`/countersign review ${input.gateId} ok|concern <note>\``,
  );
}

/** A failed policy reload, for the security channel. */
export function renderReloadFailed(actor: string, problems: string[]): Message {
  const list = problems.slice(0, 15).map((p) => `• ${escapeTruncate(p, 250)}`).join('\n');
  return replyText(`:warning: ${person(actor.replace(/^slack:/, ''))} reloaded the policy and it did not validate; the last good set stays in force.\n${list}${problems.length > 15 ? `\n…and ${problems.length - 15} more` : ''}`, 'Policy reload failed; the last good set stays in force');
}
