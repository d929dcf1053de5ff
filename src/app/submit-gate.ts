import type { Decision } from '../core/decision.js';
import { canonicalAction, sha256OfJson } from '../core/evidence-hash.js';
import type { Gate } from '../core/gate.js';
import { splitDelivery, type Delivery } from '../core/gate-request.js';
import type { GateState } from '../core/gate-state.js';
import type { AgentRegistration } from '../core/policy/agents.js';
import { parseGateRequest } from '../core/validation.js';
import { notify, type AppContext } from './ports.js';

export interface SubmitInput {
  agent: AgentRegistration;
  /** The parsed JSON body, exactly as sent. */
  body: Record<string, unknown>;
  idempotencyKey: string;
}

export interface SubmitResult {
  gate: Gate;
  /** False when an earlier request with the same Idempotency-Key created the gate. */
  created: boolean;
}

/** The state a new gate starts in, by the policy's outcome. */
export const STATE_OF: Record<Decision['outcome'], GateState> = {
  allow: 'approved',
  review: 'pending_review',
  reject: 'rejected',
};

/**
 * Intake: validate, hash, decide, store — once per Idempotency-Key. Concurrent retries with one
 * key agree on one gate id through the idempotency claim; the create script then makes exactly
 * one gate whichever of them gets there first.
 */
export async function submitGate(ctx: AppContext, input: SubmitInput): Promise<SubmitResult> {
  const request = parseGateRequest(input.body, ctx.agentNetworks);
  const { json: actionJson, evidenceHash: hash } = canonicalAction(input.body);
  const now = ctx.now();
  // The body's fingerprint for the Idempotency-Key: the evidence hash plus the canonical delivery
  // options, so a retry that reorders keys or whitespace still counts as the same body.
  const fingerprint = sha256OfJson({ evidenceHash: hash, delivery: input.body.delivery ?? null });
  const claim = await ctx.idempotency.claim(input.agent.id, input.idempotencyKey, fingerprint, ctx.ids.gateId(now));

  if (!claim.fresh) {
    const existing = await ctx.store.get(claim.gateId, now);
    if (existing) return { gate: existing, created: false };
    // The first request claimed the key but has not stored the gate yet (or died): create it.
  }

  const { action, delivery } = splitDelivery(request);
  const decision = ctx.decide(action, input.agent.id, now);
  const state = STATE_OF[decision.outcome];
  const deadlines = deadlinesFor(decision, delivery, now);
  const stored = await ctx.store.create({
    id: claim.gateId,
    agentId: input.agent.id,
    request: action,
    // The validated action is the body without `delivery`, member for member (no defaults, no
    // transforms): its canonical text is the one just hashed.
    requestJson: actionJson,
    delivery,
    evidenceHash: hash,
    decision,
    createdAt: now,
    state,
    ...deadlines,
    audit: {
      event: 'create',
      actor: `agent:${input.agent.id}`,
      at: now,
      gateId: claim.gateId,
      action: action.action,
      environment: action.environment,
      evidenceHash: hash,
      requester: action.context.requester.email,
      agentSession: action.context.agentSession,
      workflowId: action.context.workflowId ?? null,
      intent: action.context.intent ?? null,
      decision: {
        outcome: decision.outcome,
        mode: decision.mode,
        shadow: decision.shadow?.outcome ?? null,
        risk: decision.risk.level,
        rules: decision.rules.map((r) => r.rule),
        policyVersion: decision.policyVersion,
      },
    },
  });

  const { created, gate } = stored;
  ctx.logger.info(
    {
      gateId: gate.id,
      agentId: gate.agentId,
      agentSession: action.context.agentSession,
      workflowId: action.context.workflowId,
      event: 'create',
      actor: `agent:${gate.agentId}`,
      state: gate.state,
      action: action.action,
      environment: action.environment,
      evidenceHash: hash,
      created,
    },
    created ? 'gate created' : 'gate returned for a repeated Idempotency-Key',
  );
  if (stored.created) await notify(ctx, { gate, event: 'create', from: null, actor: `agent:${gate.agentId}`, links: [stored.link] });
  return { gate, created };
}

/**
 * The windows a new gate gets. An agent may ask for a shorter review window than policy
 * gives, never a longer one.
 */
export function deadlinesFor(
  decision: Decision,
  delivery: Delivery,
  now: number,
): { reviewDeadline?: number; executionDeadline?: number } {
  if (decision.outcome === 'review') {
    const policyWindow = decision.review?.reviewWindowSeconds ?? 900;
    const window = Math.min(policyWindow, delivery.reviewWindowSeconds ?? policyWindow);
    return { reviewDeadline: now + window * 1000 };
  }
  if (decision.outcome === 'allow') return { executionDeadline: now + decision.executionWindowSeconds * 1000 };
  return {};
}
