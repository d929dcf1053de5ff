import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NewGate } from '../../src/adapters/redis/gate-store.js';
import type { Decision } from '../../src/core/decision.js';
import { evidenceHash } from '../../src/core/evidence-hash.js';
import type { BoundedAction, GateRequest } from '../../src/core/gate-request.js';

export const EXAMPLES_DIR = join(import.meta.dirname, '../../examples');

/** One of the shared example requests, parsed. */
export function example(name: string): GateRequest {
  return JSON.parse(readFileSync(join(EXAMPLES_DIR, `${name}.json`), 'utf8')) as GateRequest;
}

/** The example without `delivery`. */
export function exampleAction(name: string): BoundedAction {
  const { delivery: _d, ...action } = example(name);
  return action;
}

/** A review decision like the policy engine makes, for store-level tests. */
export function reviewDecision(overrides: Partial<Decision> = {}): Decision {
  return {
    outcome: 'review',
    mode: 'enforce',
    risk: { level: 'high', factors: [{ factor: 'environment', level: 'high', explanation: 'production' }] },
    review: {
      reviewerSet: 'platform',
      quorum: 2,
      distinctTeams: 1,
      reviewWindowSeconds: 900,
      excludeAgentOwner: true,
      breakGlassAllowed: false,
    },
    grantTtlSeconds: 300,
    executionWindowSeconds: 900,
    rules: [{ rule: 'prod-review', outcome: 'review', mode: 'enforce', explanation: 'production changes need review' }],
    policyVersion: 'sha256:test',
    protectedTarget: false,
    ...overrides,
  };
}

/**
 * A new `pending_review` gate for terraform-apply-prod (requester ana.silva@example.com), as
 * store-level tests hand it to `GateStore.create`: reviewed by `reviewDecision()`, its review
 * window 15 minutes from `at`.
 */
export function pendingGateInput(id: string, at: number, overrides: Partial<NewGate> = {}): NewGate {
  const request = exampleAction('terraform-apply-prod');
  return {
    id,
    agentId: 'terraform-bot',
    request,
    delivery: {},
    evidenceHash: evidenceHash(request as unknown as Record<string, unknown>),
    decision: reviewDecision(),
    createdAt: at,
    state: 'pending_review',
    reviewDeadline: at + 900_000,
    audit: { event: 'create', actor: 'agent:terraform-bot', at },
    ...overrides,
  };
}
