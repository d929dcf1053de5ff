import type { Decision } from '../src/core/decision.js';
import { activeDeadline, type Gate } from '../src/core/gate.js';
import type { BoundedAction } from '../src/core/gate-request.js';
import { boundedList, code, escapeTruncate, person, plural, slackDate } from './format.js';
import { maskSecrets } from './mask.js';
import { approvals, denial } from './status.js';
import type { Mrkdwn } from './types.js';

/**
 * The text pieces of the change record. Each piece has a fixed character budget so that the
 * whole record, whatever the agent sent, stays inside Slack's per-message limits; what does
 * not fit is cut with "…" or summarised as "+N more".
 */

/** Every way of starting a new line that Slack (or a reader) honours. */
const LINE_BREAKS = /\r\n|[\n\r\v\f\u0085\u2028\u2029]/;
const LINE_BREAK_RUNS = /[ \t]*(?:\r\n|[\n\r\v\f\u0085\u2028\u2029])(?:[ \t]*(?:\r\n|[\n\r\v\f\u0085\u2028\u2029]))*[ \t]*/g;
/** Most lines a quoted field keeps as lines; the rest are joined. */
const QUOTED_LINES = 12;

/**
 * Agent-supplied free text as shown on one line: secrets masked, mrkdwn escaped, line breaks
 * shown as ↵ (a line of its own could pass for one of the record's, "Approved by …"), cut to
 * `max`.
 */
export function shown(raw: string, max: number): string {
  return escapeTruncate(maskSecrets(raw).text.replace(LINE_BREAK_RUNS, ' ↵ '), max);
}

/**
 * Agent-supplied free text that may run over lines, as a quote: every line starts with the
 * quote bar, so none of it can pass for the record's own lines. At most `QUOTED_LINES` lines
 * (the rest joined with ↵); cut to `max` before the bars are added.
 */
export function shownQuote(raw: string, max: number): string {
  const lines = maskSecrets(raw).text.trim().split(LINE_BREAKS);
  const kept = lines.length <= QUOTED_LINES ? lines : [...lines.slice(0, QUOTED_LINES - 1), lines.slice(QUOTED_LINES - 1).join(' ↵ ')];
  const text = escapeTruncate(kept.join('\n'), max);
  return text
    .split('\n')
    .map((line) => `>${line}`)
    .join('\n');
}

/** Agent-supplied identifier as inline code, secrets masked. */
export function shownCode(raw: string, max = 200): string {
  return code(maskSecrets(raw).text, max);
}

export const RISK_EMOJI: Record<string, string> = {
  low: ':large_green_circle:',
  medium: ':large_yellow_circle:',
  high: ':large_orange_circle:',
  critical: ':red_circle:',
};

/**
 * Who asked: a Slack mention when their Slack user was found by their email
 * (`requesterSlackId`), else by name and email. A Slack id only the agent sent is shown as an
 * unconfirmed id, never as a mention: an agent must not be able to ping someone, or present
 * them as the requester, by naming their id.
 */
export function requesterText(request: BoundedAction, requesterSlackId?: string): string {
  const { requester } = request.context;
  if (requesterSlackId) return person(requesterSlackId);
  const name = requester.name ? `${shown(requester.name, 100)} ` : '';
  const claimed = requester.slackUserId ? ` · ${code(requester.slackUserId, 40)} (Slack id from the agent, unconfirmed)` : '';
  return `${name}${escapeTruncate(requester.email, 260)}${claimed}`;
}

const field = (label: string, value: string): Mrkdwn => ({ type: 'mrkdwn', text: `*${label}*\n${value}` });

/** The ten facts of the request, as section fields (Slack's maximum is ten). */
export function factFields(gate: Gate, requesterSlackId: string | undefined, now: number): Mrkdwn[] {
  const req = gate.request;
  const deadline = activeDeadline(gate);
  const deadlineLabel = gate.state === 'approved' ? 'Redeem by' : 'Review by';
  const passed = deadline !== undefined && now > deadline ? ' (passed)' : '';
  return [
    field('Requested by', requesterText(req, requesterSlackId)),
    field('Agent', shownCode(gate.agentId)),
    field('Agent session', shownCode(req.context.agentSession)),
    field('Workflow', req.context.workflowId ? shownCode(req.context.workflowId) : '—'),
    field('Action', shownCode(req.action, 140)),
    field('Environment', shownCode(req.environment, 80)),
    field('Risk', `${RISK_EMOJI[gate.decision.risk.level] ?? ''} ${gate.decision.risk.level}`),
    field(deadline === undefined ? 'Deadline' : deadlineLabel, deadline === undefined ? '—' : `${slackDate(deadline)}${passed}`),
    field('Artifact', req.artifact ? `${req.artifact.kind} ${shownCode(req.artifact.ref, 180)}` : '—'),
    field('Executor', shownCode(req.audience, 140)),
  ];
}

/** Resources, then downstream actions, with "+N more" when the list is long. */
export function resourcesText(request: BoundedAction): string {
  const lines = request.resources.map((r) => `• ${shownCode(r.type, 70)} ${shownCode(r.id, 160)}`);
  let text = `*Resources (${request.resources.length})*\n${boundedList(lines, 900)}`;
  const downstream = request.downstream ?? [];
  if (downstream.length > 0) {
    const d = downstream.map((a) => {
      const targets = (a.resources ?? []).map((r) => shownCode(r.id, 80));
      return `• ${shownCode(a.action, 80)}${targets.length ? ` → ${boundedList(targets, 160).replace(/\n/g, ', ')}` : ''}`;
    });
    text += `\n*Then triggers (${downstream.length})*\n${boundedList(d, 400)}`;
  }
  return text;
}

/** Permissions with the agent's reason for each. */
export function permissionsText(request: BoundedAction): string {
  if (request.permissions.length === 0) return '*Permissions*\nnone beyond the action itself';
  const lines = request.permissions.map((p) => `• ${shownCode(p.name, 100)}: ${shown(p.reason, 180)}`);
  return `*Permissions (${request.permissions.length})*\n${boundedList(lines, 1_150)}`;
}

/** Risk level, its factors, and the policy rules that fired with the policy version. */
export function riskAndPolicyText(decision: Decision): string {
  const factors = decision.risk.factors.map((f) => `• ${escapeTruncate(f.factor, 60)} (${f.level}): ${escapeTruncate(f.explanation, 200)}`);
  const rules = decision.rules.map((r) => {
    const subject = r.subject && r.subject !== 'action' ? ` on ${escapeTruncate(r.subject, 40)}` : '';
    const mode = r.mode === 'observe' ? ', observe only' : '';
    return `• ${code(r.rule, 80)} → *${r.outcome}*${mode}${subject}: ${escapeTruncate(r.explanation, 220)}`;
  });
  const lines = [`*Risk: ${RISK_EMOJI[decision.risk.level] ?? ''} ${decision.risk.level}*`, boundedList(factors, 600)];
  lines.push(`*Policy* ${code(decision.policyVersion, 60)}`, boundedList(rules, 900));
  if (decision.mode === 'observe' && decision.shadow) {
    lines.push(`_Observe mode: enforce would have decided *${decision.shadow.outcome}*${decision.shadow.reason ? ` (${escapeTruncate(decision.shadow.reason, 150)})` : ''}._`);
  }
  if (decision.review) {
    const r = decision.review;
    const teams = r.distinctTeams > 1 ? ` from ${r.distinctTeams} teams` : '';
    const owner = r.excludeAgentOwner ? '; the agent’s owner may not approve' : '';
    lines.push(`_Needs ${plural(r.quorum, 'approval')}${teams}; the requester may not approve${owner}; one deny ends the review._`);
  }
  return lines.filter((l) => l !== '').join('\n');
}

export interface QuorumProgress {
  approvals: number;
  needed: number;
  teamsNeeded?: number;
  teamsSoFar?: number;
}

/** Votes so far and, while the review is open, what is still needed and from whom. */
export function votesText(gate: Gate, progress: QuorumProgress, open: boolean, now: number): string | undefined {
  if (gate.votes.length === 0 && !open) return undefined;
  const teams = progress.teamsNeeded && progress.teamsNeeded > 1 ? ` · teams ${progress.teamsSoFar ?? 0} of ${progress.teamsNeeded}` : '';
  const head = `*Votes:* ${progress.approvals} of ${plural(progress.needed, 'approval')}${teams}`;
  const lines = gate.votes.map((v) => {
    const icon = v.vote === 'approve' ? ':white_check_mark:' : ':no_entry:';
    const team = v.team ? ` (${escapeTruncate(v.team, 40)})` : '';
    const reason = v.reason ? `: ${escapeTruncate(v.reason, 200)}` : '';
    return `${icon} ${person(v.voter)}${team} ${v.vote === 'approve' ? 'approved' : 'denied'} · ${slackDate(v.at)}${reason}`;
  });
  const out = [head, boundedList(lines, 900)];
  if (open) {
    const missing = Math.max(0, progress.needed - progress.approvals);
    const missingTeams = Math.max(0, (progress.teamsNeeded ?? 0) - (progress.teamsSoFar ?? 0));
    const teamPart = missingTeams > 0 ? `, from ${plural(missingTeams, 'more team')}` : '';
    const passed = gate.reviewDeadline !== undefined && now > gate.reviewDeadline;
    out.push(passed ? '_The review window has passed._' : `Still needed: ${plural(missing, 'more approval')}${teamPart}.`);
  }
  return out.filter((l) => l !== '').join('\n');
}

/** The approvals and the deny, for texts that only need the names. */
export function voterSummary(gate: Gate): string {
  const deny = denial(gate);
  if (deny) return `denied by ${person(deny.voter)}`;
  const yes = approvals(gate);
  return yes.length ? `approved by ${yes.map((v) => person(v.voter)).join(', ')}` : '';
}
