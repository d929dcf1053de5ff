import type { RiskLevel } from './gate-request.js';

/**
 * What the policy engine decides for one gate request. Produced by the evaluator
 * (src/core/policy), stored on the gate, shown to reviewers and returned to agents.
 */
export type Outcome = 'allow' | 'review' | 'reject';
export type RuleMode = 'enforce' | 'observe';

/** One factor that raised (or set) the risk level, with a human explanation. */
export interface RiskFactor {
  factor: string;
  level: RiskLevel;
  explanation: string;
}

export interface RiskAssessment {
  level: RiskLevel;
  factors: RiskFactor[];
}

/** Who must review and how. `reviewerSet` names an entry of the policy's reviewer sets. */
export interface ReviewRequirement {
  reviewerSet: string;
  quorum: number;
  distinctTeams: number;
  reviewWindowSeconds: number;
  /** The agent's registered owner may not vote. */
  excludeAgentOwner: boolean;
  breakGlassAllowed: boolean;
  /** Reviewer set to escalate to when the first set does not act in time. */
  escalateTo?: string;
}

/** A rule that fired, and why, in words a reviewer can read. */
export interface FiredRule {
  rule: string;
  outcome: Outcome;
  mode: RuleMode;
  explanation: string;
  /** Which action of the request matched: the main action, or `downstream[i]`. */
  subject?: string;
}

export interface Decision {
  /** What happens now. In observe mode a `review`/`reject` is let through as `allow`. */
  outcome: Outcome;
  mode: RuleMode;
  /** In observe mode: what enforce mode would have decided. */
  shadow?: { outcome: Outcome; review?: ReviewRequirement; reason?: string };
  risk: RiskAssessment;
  review?: ReviewRequirement;
  /** Set when `outcome` is `reject`. */
  reason?: string;
  grantTtlSeconds: number;
  /** How long an approved gate may wait for its redeem. */
  executionWindowSeconds: number;
  rules: FiredRule[];
  /** Hash of the loaded policy set. */
  policyVersion: string;
  /** The agent's registered owner (for the owner-may-not-approve rule). */
  agentOwner?: string;
  /** Protected targets: never auto-allowed, never break-glassed. */
  protectedTarget: boolean;
}

const STRICTNESS: Record<Outcome, number> = { allow: 0, review: 1, reject: 2 };

/** True when `a` is stricter than `b` (reject > review > allow). */
export function isStricter(a: Outcome, b: Outcome): boolean {
  return STRICTNESS[a] > STRICTNESS[b];
}
