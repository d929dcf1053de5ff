import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Decision, FiredRule, RiskFactor } from '../../../src/core/decision.js';
import { evidenceHash } from '../../../src/core/evidence-hash.js';
import type { Gate, Vote } from '../../../src/core/gate.js';
import { GateRequest, splitDelivery, type RiskLevel } from '../../../src/core/gate-request.js';
import type { GateState } from '../../../src/core/gate-state.js';

/** Gates built from the shared examples and from generated worst cases, for renderer tests. */

export const EXAMPLES_DIR = join(import.meta.dirname, '../../../examples');
export const EXAMPLE_NAMES = readdirSync(EXAMPLES_DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.replace(/\.json$/, ''))
  .sort();

/** 2026-11-20T14:00:00Z: a frozen clock. */
export const NOW = Date.UTC(2026, 10, 20, 14, 0, 0);

export function exampleRequest(name: string): GateRequest {
  return GateRequest.parse(JSON.parse(readFileSync(join(EXAMPLES_DIR, `${name}.json`), 'utf8')));
}

interface Profile {
  level: RiskLevel;
  factors: RiskFactor[];
  rules: FiredRule[];
  quorum: number;
  teams: number;
}

/** What a realistic policy would decide for each example. */
const PROFILES: Record<string, Profile> = {
  'terraform-apply-prod': {
    level: 'high',
    factors: [
      { factor: 'environment', level: 'high', explanation: 'production environment' },
      { factor: 'cost', level: 'medium', explanation: 'adds a db.r6g.xlarge instance (about 410 USD/month)' },
    ],
    rules: [{ rule: 'prod-infra-two-teams', outcome: 'review', mode: 'enforce', explanation: 'production infrastructure changes need two reviewers from two teams' }],
    quorum: 2,
    teams: 2,
  },
  'db-drop-column-prod': {
    level: 'critical',
    factors: [
      { factor: 'irreversible', level: 'critical', explanation: 'DROP COLUMN cannot be undone without a restore' },
      { factor: 'environment', level: 'high', explanation: 'production environment' },
    ],
    rules: [{ rule: 'irreversible-prod', outcome: 'review', mode: 'enforce', explanation: 'irreversible production changes need two reviewers' }],
    quorum: 2,
    teams: 1,
  },
  'iam-attach-admin-policy': {
    level: 'critical',
    factors: [{ factor: 'privilege-amplifying', level: 'critical', explanation: 'grants a CI role access to every production secret' }],
    rules: [
      { rule: 'privilege-amplifying', outcome: 'review', mode: 'enforce', explanation: 'IAM changes that widen access need security review' },
      { rule: 'protected-accounts', outcome: 'review', mode: 'enforce', explanation: 'account 111122223333 is protected', subject: 'action' },
    ],
    quorum: 2,
    teams: 2,
  },
  'customer-data-export': {
    level: 'high',
    factors: [
      { factor: 'data-class', level: 'high', explanation: 'PII (emails) of EU customers' },
      { factor: 'data-residency', level: 'high', explanation: 'destination bucket is in us-east-1' },
    ],
    rules: [
      { rule: 'pii-export', outcome: 'review', mode: 'enforce', explanation: 'exports of PII need a data-protection reviewer' },
      { rule: 'webhooks-after-export', outcome: 'review', mode: 'observe', explanation: 'downstream retraining is watched', subject: 'downstream[0]' },
    ],
    quorum: 1,
    teams: 1,
  },
  'k8s-deploy-staging': {
    level: 'medium',
    factors: [{ factor: 'environment', level: 'medium', explanation: 'staging environment' }],
    rules: [{ rule: 'staging-deploys', outcome: 'review', mode: 'enforce', explanation: 'staging deploys of checkout need one reviewer' }],
    quorum: 1,
    teams: 1,
  },
  'logs-read-only': {
    level: 'low',
    factors: [{ factor: 'read-only', level: 'low', explanation: 'reads logs, changes nothing' }],
    rules: [{ rule: 'read-only-allowed', outcome: 'review', mode: 'observe', explanation: 'read-only actions run without review (observed)' }],
    quorum: 1,
    teams: 1,
  },
};

const DEFAULT_PROFILE: Profile = {
  level: 'high',
  factors: [{ factor: 'environment', level: 'high', explanation: 'production environment' }],
  rules: [{ rule: 'default-review', outcome: 'review', mode: 'enforce', explanation: 'unknown actions need review' }],
  quorum: 2,
  teams: 2,
};

export function decisionFor(name: string): Decision {
  const p = PROFILES[name] ?? DEFAULT_PROFILE;
  return {
    outcome: 'review',
    mode: 'enforce',
    risk: { level: p.level, factors: p.factors },
    review: { reviewerSet: 'platform-oncall', quorum: p.quorum, distinctTeams: p.teams, reviewWindowSeconds: 1800, excludeAgentOwner: true, breakGlassAllowed: false },
    grantTtlSeconds: 300,
    executionWindowSeconds: 900,
    rules: p.rules,
    policyVersion: 'sha256:5d41402abc4b2a76b9719d911017c592ae3d',
    protectedTarget: false,
  };
}

/** A pending gate for a request, as the store would hold it right after intake. */
export function pendingGate(raw: GateRequest, decision: Decision, id = 'gt_01JD4XK9ZQ3M'): Gate {
  const { action, delivery } = splitDelivery(raw);
  return {
    id,
    agentId: 'agent-ops-copilot',
    state: 'pending_review',
    version: 1,
    request: action,
    delivery,
    evidenceHash: evidenceHash(action as unknown as Record<string, unknown>),
    decision,
    createdAt: NOW - 60_000,
    updatedAt: NOW - 60_000,
    reviewDeadline: NOW + 29 * 60_000,
    votes: [],
    annotations: {},
  };
}

const VOTERS: Vote[] = [
  { voter: 'U0REVIEW1', vote: 'approve', team: 'platform', at: NOW - 30_000 },
  { voter: 'U0REVIEW2', vote: 'approve', team: 'security', at: NOW - 10_000 },
];

export type Scenario = 'pending' | 'pending-one-vote' | 'approved' | 'denied' | 'expired' | 'invalidated' | 'cancelled' | 'redeemed';
export const SCENARIOS: Scenario[] = ['pending', 'pending-one-vote', 'approved', 'denied', 'expired', 'invalidated', 'cancelled', 'redeemed'];

/** The same gate moved to a later point of its life. */
export function inState(gate: Gate, scenario: Scenario): Gate {
  const quorum = gate.decision.review?.quorum ?? 1;
  const approvals = VOTERS.slice(0, quorum);
  const at = NOW;
  const moved = (state: GateState, extra: Partial<Gate>): Gate => ({ ...gate, state, version: gate.version + 1, updatedAt: at, ...extra });
  switch (scenario) {
    case 'pending':
      return gate;
    case 'pending-one-vote':
      return { ...gate, votes: VOTERS.slice(0, 1) };
    case 'approved':
      return moved('approved', { votes: approvals, executionDeadline: at + 15 * 60_000, reviewDeadline: undefined });
    case 'redeemed':
      return moved('redeemed', { votes: approvals, resolution: { event: 'redeem', actor: gate.agentId, at } });
    case 'denied':
      return moved('denied', {
        votes: [{ voter: 'U0REVIEW3', vote: 'deny', team: 'security', at, reason: 'Not during the payments freeze; re-plan without the replica <!channel>' }],
        resolution: { event: 'deny', actor: 'U0REVIEW3', at, reason: 'Not during the payments freeze; re-plan without the replica <!channel>' },
      });
    case 'expired':
      return moved('expired', { votes: VOTERS.slice(0, 1), resolution: { event: 'expire', actor: 'system', at } });
    case 'invalidated':
      return moved('invalidated', { votes: VOTERS.slice(0, 1), resolution: { event: 'invalidate', actor: 'system', at, reason: 'revalidation returned sha256:0bad…' } });
    case 'cancelled':
      return moved('cancelled', { resolution: { event: 'cancel', actor: 'agent-ops-copilot', at, reason: 'superseded by plan 7f3d' } });
  }
}

/** Quorum progress as the Slack edge would compute it from the votes. */
export function progressOf(gate: Gate): { approvals: number; needed: number; teamsNeeded: number; teamsSoFar: number } {
  const approvals = gate.votes.filter((v) => v.vote === 'approve');
  return {
    approvals: approvals.length,
    needed: gate.decision.review?.quorum ?? 1,
    teamsNeeded: gate.decision.review?.distinctTeams ?? 1,
    teamsSoFar: new Set(approvals.map((v) => v.team)).size,
  };
}

/** The largest request the intake accepts in every dimension the change record shows. */
export function oversizedRequest(overrides: Partial<GateRequest> = {}): GateRequest {
  const long = (n: number, unit = 'x') => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
  let diff = '';
  for (let i = 0; diff.length < 512 * 1024 - 200; i += 1) diff += `+ line ${i}: replica_count = ${i} # 🚀 ünïcödé <!here> & more\n`;
  return GateRequest.parse({
    action: `a.${long(120, 'b')}`,
    summary: long(200, '🚀é'),
    environment: `e${long(63, 'n')}`,
    resources: Array.from({ length: 100 }, (_, i) => ({ type: 'k8s.deployment', id: `${i}-${long(1020, 'r')}` })),
    permissions: Array.from({ length: 50 }, (_, i) => ({ name: `perm:${i}:${long(240, 'p')}`, reason: long(2000, '理由<&> ') })),
    artifact: { kind: 'image', ref: long(1024, 'sha256:') },
    evidence: { diff, commands: ['kubectl apply -f x.yaml'], parameters: { big: long(2000, 'v') }, plan: { steps: Array.from({ length: 50 }, (_, i) => ({ i, what: long(200, 'w') })) } },
    impact: { expected: long(2000, 'impact '), rollback: long(2000, 'rollback ') },
    downstream: Array.from({ length: 20 }, (_, i) => ({ action: `d.${i}`, resources: Array.from({ length: 5 }, (_, j) => ({ type: 't', id: `${j}-${long(500, 'd')}` })) })),
    context: { requester: { email: `${long(60, 'a')}@example.com`, name: long(128, 'N') }, agentSession: long(128, 's'), workflowId: long(128, 'w'), intent: long(2000, 'intent ') },
    audience: long(128, 'a'),
    ...overrides,
  });
}

/** A decision as verbose as a policy can make it. */
export function verboseDecision(): Decision {
  const base = decisionFor('');
  return {
    ...base,
    risk: { level: 'critical', factors: Array.from({ length: 20 }, (_, i) => ({ factor: `factor-${i}`, level: 'critical' as const, explanation: 'e'.repeat(500) })) },
    rules: Array.from({ length: 30 }, (_, i) => ({ rule: `rule-${i}-${'r'.repeat(100)}`, outcome: 'review' as const, mode: 'enforce' as const, explanation: 'x'.repeat(1000), subject: `downstream[${i}]` })),
    review: { reviewerSet: 's', quorum: 10, distinctTeams: 5, reviewWindowSeconds: 900, excludeAgentOwner: true, breakGlassAllowed: false },
  };
}
