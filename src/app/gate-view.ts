import type { Gate } from '../core/gate.js';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** The gate as agents see it over HTTP (GET /v1/gates/:id and every write's answer). */
export function gateView(gate: Gate) {
  const d = gate.decision;
  return {
    id: gate.id,
    state: gate.state,
    version: gate.version,
    agentId: gate.agentId,
    action: gate.request.action,
    environment: gate.request.environment,
    summary: gate.request.summary,
    audience: gate.request.audience,
    evidenceHash: gate.evidenceHash,
    createdAt: iso(gate.createdAt),
    updatedAt: iso(gate.updatedAt),
    deadlines: { review: iso(gate.reviewDeadline), execution: iso(gate.executionDeadline) },
    decision: {
      outcome: d.outcome,
      mode: d.mode,
      ...(d.shadow ? { shadow: d.shadow } : {}),
      risk: d.risk,
      ...(d.review
        ? { review: { reviewerSet: d.review.reviewerSet, quorum: d.review.quorum, distinctTeams: d.review.distinctTeams } }
        : {}),
      ...(d.reason ? { reason: d.reason } : {}),
      reasons: d.rules.map((r) => ({ rule: r.rule, outcome: r.outcome, mode: r.mode, explanation: r.explanation })),
      grantTtlSeconds: d.grantTtlSeconds,
      policyVersion: d.policyVersion,
    },
    votes: gate.votes.map((v) => ({ voter: v.voter, vote: v.vote, at: iso(v.at), ...(v.reason ? { reason: v.reason } : {}) })),
    ...(gate.resolution ? { resolution: { ...gate.resolution, at: iso(gate.resolution.at) } } : {}),
    links: {
      self: `/v1/gates/${gate.id}`,
      cancel: `/v1/gates/${gate.id}/cancel`,
      redeem: `/v1/gates/${gate.id}/redeem`,
      outcome: `/v1/gates/${gate.id}/outcome`,
    },
  };
}
export type GateView = ReturnType<typeof gateView>;
