import type { Gate, Vote } from '../src/core/gate.js';
import { escapeTruncate, person, slackDate } from './format.js';

/**
 * What happened to a gate, in one line, for the change record, the thread reply and the
 * requester's direct message. Actors are Slack mentions when they are Slack user ids.
 */

/** The approvals recorded on the gate, in the order they were cast. */
export function approvals(gate: Gate): Vote[] {
  return gate.votes.filter((v) => v.vote === 'approve');
}

/** The deny vote that ended the review, if any. */
export function denial(gate: Gate): Vote | undefined {
  return gate.votes.find((v) => v.vote === 'deny');
}

/** True while reviewers can still vote: the only state in which the buttons are shown. */
export function reviewOpen(gate: Gate): boolean {
  return gate.state === 'pending_review';
}

/** Short state names for fallback texts and headers. */
export const STATE_LABEL: Record<Gate['state'], string> = {
  pending_review: 'Approval needed',
  approved: 'Approved',
  redeemed: 'Approved, grant issued',
  rejected: 'Rejected by policy',
  denied: 'Denied',
  expired: 'Expired',
  invalidated: 'Invalidated',
  cancelled: 'Cancelled',
  completed: 'Completed',
  failed: 'Failed',
};

function people(votes: Vote[]): string {
  return votes.map((v) => person(v.voter)).join(', ');
}

/** "by <@U1>, <@U2> at <date>", or how policy approved it when nobody voted. */
function approvedBy(gate: Gate): string {
  if (gate.resolution?.event === 'break_glass' || gate.annotations.breakGlass !== undefined) {
    const r = gate.resolution;
    const why = r?.reason ? `: ${escapeTruncate(r.reason, 300)}` : '';
    return `by break-glass${r ? ` (${person(r.actor)}, ${slackDate(r.at)})` : ''}${why}`;
  }
  const votes = approvals(gate);
  const last = votes[votes.length - 1];
  if (last === undefined) return gate.decision.mode === 'observe' ? 'by policy (observe mode)' : 'by policy';
  return `by ${people(votes)} · ${slackDate(last.at)}`;
}

/** How the gate ended (or stands, once the review is over), as one mrkdwn line. */
export function statusLine(gate: Gate): string {
  const r = gate.resolution;
  const at = r ? ` · ${slackDate(r.at)}` : '';
  const because = (fallback?: string) => {
    const reason = r?.reason ?? fallback;
    return reason ? `: ${escapeTruncate(reason, 300)}` : '';
  };
  switch (gate.state) {
    case 'pending_review':
      return `:hourglass_flowing_sand: *Waiting for review*`;
    case 'approved':
      return `:white_check_mark: *Approved* ${approvedBy(gate)}${gate.executionDeadline ? ` · grant can be redeemed until ${slackDate(gate.executionDeadline)}` : ''}`;
    case 'redeemed':
      return `:white_check_mark: *Approved* ${approvedBy(gate)} · :key: grant issued${at}`;
    case 'completed':
      return `:white_check_mark: *Approved* ${approvedBy(gate)} · *completed*${at}`;
    case 'failed':
      return `:white_check_mark: *Approved* ${approvedBy(gate)} · :x: *execution failed*${at}${because()}`;
    case 'denied': {
      const vote = denial(gate);
      const who = vote ? person(vote.voter) : r ? person(r.actor) : 'a reviewer';
      const when = vote ? slackDate(vote.at) : r ? slackDate(r.at) : '';
      const reason = vote?.reason ?? r?.reason;
      return `:no_entry: *Denied* by ${who}${when ? ` · ${when}` : ''}${reason ? `: ${escapeTruncate(reason, 300)}` : ''}`;
    }
    case 'expired': {
      const got = approvals(gate).length;
      const needed = gate.decision.review?.quorum;
      const progress = needed !== undefined && got < needed ? ` with ${got} of ${needed} approvals` : got > 0 ? ' before the grant was redeemed' : '';
      return `:hourglass: *Expired*${at}${progress}`;
    }
    case 'invalidated':
      return `:warning: *Invalidated*${at}: the evidence changed after review, so the approval is void; the agent must ask again${r?.reason ? ` (${escapeTruncate(r.reason, 300)})` : ''}`;
    case 'cancelled':
      return `:no_entry_sign: *Cancelled*${r ? ` by ${person(r.actor)}` : ''}${at}${because()}`;
    case 'rejected':
      return `:no_entry_sign: *Rejected by policy*${because(gate.decision.reason)}`;
  }
}
