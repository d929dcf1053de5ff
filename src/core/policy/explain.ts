import type { Decision, ReviewRequirement } from '../decision.js';

/** Human text for decisions: the CLI's `policy explain`, logs, and anyone reading a gate. */

/** "2 approvals from security across 2 teams". */
export function describeReview(review: ReviewRequirement): string {
  const approvals = `${review.quorum} approval${review.quorum === 1 ? '' : 's'}`;
  const teams = review.distinctTeams > 1 ? ` across ${review.distinctTeams} teams` : '';
  return `${review.reviewerSet} (${approvals}${teams})`;
}

function minutes(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** The decision as several lines of plain text: outcome, review, risk and why, rules, version. */
export function explainDecision(decision: Decision): string {
  const lines: string[] = [];
  const mode = decision.mode === 'observe' ? ' (observe mode: let through, not enforced)' : '';
  lines.push(`Outcome: ${decision.outcome.toUpperCase()}${mode}`);
  if (decision.outcome === 'reject' && decision.reason !== undefined) lines.push(`Reason: ${decision.reason}`);
  if (decision.review !== undefined) lines.push(...reviewLines(decision.review, decision.protectedTarget));
  if (decision.shadow !== undefined) {
    const s = decision.shadow;
    const detail = s.review !== undefined ? ` by ${describeReview(s.review)}` : s.reason !== undefined ? `: ${s.reason}` : '';
    lines.push(`Enforce mode would decide: ${s.outcome}${detail}`);
  }
  if (decision.protectedTarget) lines.push('Protected target: never allowed automatically, no break-glass');
  lines.push(`Risk: ${decision.risk.level}`);
  for (const f of decision.risk.factors) lines.push(`  - ${f.factor} (${f.level}): ${f.explanation}`);
  lines.push('Rules:');
  if (decision.rules.length === 0) lines.push('  (none)');
  for (const r of decision.rules) {
    const observed = r.mode === 'observe' ? ' [observe]' : '';
    lines.push(`  - ${r.rule}${r.subject !== undefined ? ` @ ${r.subject}` : ''}${observed}: ${r.explanation}`);
  }
  if (decision.outcome !== 'reject') {
    lines.push(`Grant: valid ${minutes(decision.grantTtlSeconds)}, redeem within ${minutes(decision.executionWindowSeconds)} of approval`);
  }
  if (decision.agentOwner !== undefined) lines.push(`Agent owner: ${decision.agentOwner}`);
  lines.push(`Policy version: ${decision.policyVersion}`);
  return lines.join('\n');
}

function reviewLines(review: ReviewRequirement, protectedTarget: boolean): string[] {
  const lines = [`Review: ${describeReview(review)}, within ${minutes(review.reviewWindowSeconds)}`];
  const conditions: string[] = [];
  if (review.excludeAgentOwner) conditions.push("the agent's owner may not approve");
  conditions.push(review.breakGlassAllowed ? 'break-glass allowed' : protectedTarget ? 'no break-glass (protected target)' : 'no break-glass');
  if (review.escalateTo !== undefined) conditions.push(`escalates to ${review.escalateTo}`);
  lines.push(`  ${conditions.join('; ')}`);
  return lines;
}
