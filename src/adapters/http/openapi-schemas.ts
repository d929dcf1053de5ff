import { z } from 'zod';
import { GrantClaimsSchema } from '../credentials/grant-claims.js';
import { OutcomeReport } from '../../app/report-outcome.js';
import { GateRequest, RISK_LEVELS } from '../../core/gate-request.js';
import { GATE_STATES } from '../../core/gate-state.js';
import { GATE_ID } from '../../core/ids.js';
import { EVIDENCE_HASH } from '../../core/evidence-hash.js';

/**
 * The wire shapes of the HTTP API as zod schemas, for the OpenAPI document. Requests reuse the
 * schemas the routes validate with (GateRequest, OutcomeReport); answers are described here
 * and checked against real answers by test/integration/openapi.test.ts, so that they cannot
 * drift from what the routes send.
 */

const isoTime = z.iso.datetime({ offset: true }).describe('ISO 8601 time');
const outcome = z.enum(['allow', 'review', 'reject']);
const mode = z.enum(['enforce', 'observe']);
const riskLevel = z.enum(RISK_LEVELS);

const ReviewSummary = z.object({
  reviewerSet: z.string().describe('Reviewer set of the policy (policies/reviewers.yaml)'),
  quorum: z.int().min(1).describe('Distinct approvals needed'),
  distinctTeams: z.int().min(1).describe('Distinct teams those approvals must come from'),
});

export const GateViewSchema = z
  .object({
    id: z.string().regex(GATE_ID),
    state: z.enum(GATE_STATES),
    version: z.int().min(1).describe('Increments on every transition'),
    agentId: z.string(),
    action: z.string(),
    environment: z.string(),
    summary: z.string(),
    audience: z.string().describe('The executor the grant will be for'),
    evidenceHash: z.string().regex(EVIDENCE_HASH).describe('sha256 of the RFC 8785 canonical request without `delivery`'),
    createdAt: isoTime,
    updatedAt: isoTime,
    deadlines: z.object({
      review: isoTime.optional().describe('End of the review window (pending_review)'),
      execution: isoTime.optional().describe('End of the execution window (approved → redeem)'),
    }),
    decision: z.object({
      outcome,
      mode,
      shadow: z
        .object({ outcome, review: z.looseObject({}).optional(), reason: z.string().optional() })
        .optional()
        .describe('Observe mode: what enforce mode would have decided'),
      risk: z.object({
        level: riskLevel,
        factors: z.array(z.object({ factor: z.string(), level: riskLevel, explanation: z.string() })),
      }),
      review: ReviewSummary.optional(),
      reason: z.string().optional().describe('Why policy rejected the request'),
      reasons: z
        .array(z.object({ rule: z.string(), outcome, mode, explanation: z.string() }))
        .describe('The rules that fired, in order'),
      grantTtlSeconds: z.int().min(1),
      policyVersion: z.string().describe('Hash of the policy set that decided'),
    }),
    votes: z.array(z.object({ voter: z.string().describe('Slack user id'), vote: z.enum(['approve', 'deny']), at: isoTime, reason: z.string().optional() })),
    resolution: z
      .looseObject({ event: z.string(), actor: z.string(), at: isoTime, reason: z.string().optional() })
      .optional()
      .describe('Who or what ended the gate, and why (a deny carries the reviewer’s reason)'),
    links: z.object({ self: z.string(), cancel: z.string(), redeem: z.string(), outcome: z.string() }),
  })
  .describe('A gate as its agent sees it');

export const ProblemSchema = z
  .looseObject({
    type: z.url().describe('Stable problem type, e.g. https://countersign.dev/problems/evidence-drift'),
    title: z.string(),
    status: z.int(),
    detail: z.string().describe('Human explanation; do not parse'),
    code: z.string().describe('Stable error code, e.g. ERR_EVIDENCE_DRIFT'),
    instance: z.string().optional(),
    errors: z.array(z.object({ pointer: z.string(), message: z.string() })).optional().describe('Failing fields, as JSON pointers'),
  })
  .describe('RFC 9457 problem details');

export const RedeemRequestSchema = z.strictObject({
  evidenceHash: z.string().regex(EVIDENCE_HASH).describe('Hash of exactly what is about to run; must equal the approved one'),
});

export const GrantClaimsDoc = GrantClaimsSchema.describe('Grant claims (JWT payload)');

export const RedeemedGrantSchema = z.object({
  grant: z.string().describe('ES256 JWT, header typ countersign-grant+jwt'),
  expiresAt: isoTime,
  claims: GrantClaimsDoc,
  gate: GateViewSchema,
});

export const CancelRequestSchema = z.strictObject({ reason: z.string().max(2_000).optional() });

export const IntrospectionRequestSchema = z.object({ token: z.string().min(1).max(16 * 1024).describe('The grant') });

export const IntrospectionAnswerSchema = z
  .union([
    z.intersection(z.object({ active: z.literal(true) }), GrantClaimsDoc),
    z.object({
      active: z.literal(false),
      reason: z.enum(['already_used', 'gate_closed', 'expired', 'not_yet_valid', 'invalid_signature', 'unknown_key', 'unsupported_algorithm', 'wrong_type', 'wrong_issuer', 'wrong_audience', 'malformed']),
    }),
  ])
  .describe('RFC 7662: the claims when the grant was consumed by this call, else why not');

export const JwksSchema = z.object({
  keys: z.array(z.looseObject({ kty: z.literal('EC'), crv: z.literal('P-256'), x: z.string(), y: z.string(), kid: z.string(), alg: z.literal('ES256').optional(), use: z.literal('sig').optional() })),
});

export const HealthSchema = z.object({ status: z.literal('ok') });
export const ReadinessSchema = z.object({ status: z.enum(['ready', 'unavailable']), redis: z.enum(['ok', 'unreachable']) });

/** Every named schema of the document: `#/components/schemas/<name>`. */
export const COMPONENT_SCHEMAS = {
  GateRequest,
  Gate: GateViewSchema,
  Problem: ProblemSchema,
  CancelRequest: CancelRequestSchema,
  RedeemRequest: RedeemRequestSchema,
  RedeemedGrant: RedeemedGrantSchema,
  GrantClaims: GrantClaimsDoc,
  OutcomeReport,
  IntrospectionRequest: IntrospectionRequestSchema,
  IntrospectionAnswer: IntrospectionAnswerSchema,
  Jwks: JwksSchema,
  Health: HealthSchema,
  Readiness: ReadinessSchema,
} as const;
