import { z } from 'zod';
import { COMPONENT_SCHEMAS } from './openapi-schemas.js';

/**
 * The OpenAPI 3.1 document of the HTTP API (DESIGN.md, "HTTP API"), built from the same zod
 * schemas the routes validate with. `npm run openapi` writes it to openapi.json; the service
 * serves it at /openapi.json; a test fails when the committed copy is stale.
 */

type Json = Record<string, unknown>;
const ref = (name: keyof typeof COMPONENT_SCHEMAS) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json, description: string) => ({ description, content: { 'application/json': { schema } } });
const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });

/** Errors every authenticated route may answer. */
const AUTH_ERRORS = {
  '401': problem('Not authenticated: missing, stale or bad signature, replayed webhook-id, unknown agent, invalid token'),
  '413': problem('Body larger than allowed'),
  '415': problem('Content type is not application/json'),
  '503': problem("The store, or an OIDC issuer's keys, cannot be reached; retry (with the same Idempotency-Key)"),
};

/** Routes that read a JSON body: the body must parse, as I-JSON (RFC 7493). */
const BODY_ERROR = {
  '400': problem('The body is not JSON, or not I-JSON: a member named twice, or a whole number beyond 2^53 written as no double reads it'),
};

const gateId = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'Gate id (`g_` + ULID)',
  schema: { type: 'string', pattern: '^g_[0-9A-HJKMNP-TV-Z]{26}$' },
};
const idempotencyKey = (required: boolean, description: string) => ({
  name: 'Idempotency-Key',
  in: 'header',
  required,
  description,
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
});

const AGENT_SECURITY = [{ oidc: [] }, { countersignAgent: [], webhookId: [], webhookTimestamp: [], webhookSignature: [] }];

function schemas(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(COMPONENT_SCHEMAS)) registry.add(schema as z.ZodType, { id });
  const { schemas: out } = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, Json> };
  const result: Record<string, Json> = {};
  for (const id of Object.keys(COMPONENT_SCHEMAS)) {
    // OpenAPI 3.1 schemas are JSON Schema 2020-12 already: drop the per-schema dialect and id.
    const { $schema: _s, $id: _i, ...schema } = out[id] as Json;
    result[id] = tidy(schema) as Json;
  }
  return result;
}

const SAFE_INTEGER_BOUNDS = new Set([Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]);

/** Drops what zod spells out but readers do not need: the date-time regex, the safe-integer bounds. */
function tidy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(tidy);
  if (typeof value !== 'object' || value === null) return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value as Json)) {
    if (k === 'pattern' && (value as Json).format === 'date-time') continue;
    if ((k === 'minimum' || k === 'maximum') && typeof v === 'number' && SAFE_INTEGER_BOUNDS.has(v)) continue;
    out[k] = tidy(v);
  }
  return out;
}

/** The document, as served at /openapi.json and committed as openapi.json. */
export function openApiDocument(): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Countersign',
      version: '0.1.0',
      summary: 'Approval gate for high-risk actions of AI agents',
      description:
        'An agent asks for one exact, bounded action (`POST /v1/gates`); policy allows it, sends it to reviewers in Slack, or refuses it. ' +
        'Once approved, the agent redeems a short-lived, single-use grant (an ES256 JWT) for exactly that action; the executor verifies it ' +
        'against the JWKS and consumes it once through introspection. Errors are RFC 9457 problem details with a stable `type`; ' +
        'an unknown path answers 404 and a method a path does not take 405, both as problem details.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: 'http://localhost:3000', description: 'npm start / npm run demo' }],
    tags: [
      { name: 'agents', description: 'Ask for a gate, wait, redeem, report the outcome' },
      { name: 'executors', description: 'Verify and consume grants' },
      { name: 'operations', description: 'Health, readiness, metrics, this document' },
      { name: 'slack', description: "Slack's requests in HTTP mode" },
    ],
    paths: {
      '/v1/gates': {
        post: {
          tags: ['agents'],
          operationId: 'createGate',
          summary: 'Ask for a gate',
          description:
            'Validates the bounded action, hashes its evidence, classifies risk and evaluates policy. The answer is `approved` (allowed now), ' +
            '`pending_review` (a change record is posted to the reviewers) or `rejected` (with `decision.reason`). A retry with the same ' +
            'Idempotency-Key and body returns the same gate (200, `Idempotent-Replayed: true`); the same key with another body is 422.',
          security: AGENT_SECURITY,
          parameters: [idempotencyKey(true, 'A unique string per gate request; retries reuse it')],
          requestBody: { required: true, content: { 'application/json': { schema: ref('GateRequest') } } },
          responses: {
            '201': { ...json(ref('Gate'), 'Created'), headers: { Location: { description: 'The gate', schema: { type: 'string' } } } },
            '200': json(ref('Gate'), 'The gate an earlier request with this Idempotency-Key created'),
            '400': problem('Missing Idempotency-Key, or the body is not JSON (or not I-JSON: a member named twice, a whole number beyond 2^53)'),
            '422': problem('Not a valid gate request (`errors` names the fields), or the Idempotency-Key was used with another body'),
            ...AUTH_ERRORS,
          },
        },
      },
      '/v1/gates/{id}': {
        get: {
          tags: ['agents'],
          operationId: 'getGate',
          summary: 'Read a gate: state, decision and reasons, votes, deadlines',
          description: 'An agent sees only its own gates; another agent’s gate answers 404.',
          security: AGENT_SECURITY,
          parameters: [gateId],
          responses: { '200': json(ref('Gate'), 'The gate'), '404': problem('No such gate (for this agent)'), ...AUTH_ERRORS },
        },
      },
      '/v1/gates/{id}/cancel': {
        post: {
          tags: ['agents'],
          operationId: 'cancelGate',
          summary: 'Withdraw a gate',
          security: AGENT_SECURITY,
          parameters: [gateId],
          requestBody: { required: false, content: { 'application/json': { schema: ref('CancelRequest') } } },
          responses: {
            '200': json(ref('Gate'), 'Cancelled (or already cancelled)'),
            '404': problem('No such gate'),
            '409': problem('The gate already ended otherwise'),
            '422': problem('A member other than `reason`, or a reason that is not a string of at most 2000 characters'),
            ...BODY_ERROR,
            ...AUTH_ERRORS,
          },
        },
      },
      '/v1/gates/{id}/redeem': {
        post: {
          tags: ['agents'],
          operationId: 'redeemGrant',
          summary: 'Exchange an approved gate for its one grant',
          description:
            'Revalidates state, execution window, evidence hash and current policy, then moves the gate to `redeemed` and returns the grant, once. ' +
            'A different `evidenceHash` invalidates the approval. Retrying with the same Idempotency-Key returns the same grant while it is unexpired.',
          security: AGENT_SECURITY,
          parameters: [gateId, idempotencyKey(false, 'Lets a retry whose answer was lost get the same grant')],
          requestBody: { required: true, content: { 'application/json': { schema: ref('RedeemRequest') } } },
          responses: {
            '200': json(ref('RedeemedGrant'), 'The grant'),
            '404': problem('No such gate'),
            '409': problem('Not approved, already redeemed (`grant-replay`), evidence drift, or policy became stricter'),
            '410': problem('The execution window passed'),
            '422': problem('evidenceHash is not `sha256:` and 64 hex digits, or a member other than `evidenceHash`'),
            ...BODY_ERROR,
            ...AUTH_ERRORS,
          },
        },
      },
      '/v1/gates/{id}/outcome': {
        post: {
          tags: ['agents'],
          operationId: 'reportOutcome',
          summary: 'Report what ran with the grant (closes the audit chain)',
          security: AGENT_SECURITY,
          parameters: [gateId],
          requestBody: { required: true, content: { 'application/json': { schema: ref('OutcomeReport') } } },
          responses: {
            '200': json(ref('Gate'), 'Recorded: completed or failed (the same report twice is a no-op)'),
            '404': problem('No such gate'),
            '409': problem('Not redeemed, or another outcome was reported'),
            '422': problem('Not a valid outcome report'),
            ...BODY_ERROR,
            ...AUTH_ERRORS,
          },
        },
      },
      '/v1/grants/introspect': {
        post: {
          tags: ['executors'],
          operationId: 'introspectGrant',
          summary: 'Consume a grant once (executors)',
          description: 'RFC 7662. Always 200: `active: true` with the claims the first time, `active: false` with a reason afterwards (`already_used`), once the gate’s outcome was reported (`gate_closed`), or when invalid.',
          security: AGENT_SECURITY,
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('IntrospectionRequest') }, 'application/x-www-form-urlencoded': { schema: ref('IntrospectionRequest') } },
          },
          responses: { '200': json(ref('IntrospectionAnswer'), 'The verdict'), '422': problem('No token'), ...BODY_ERROR, ...AUTH_ERRORS },
        },
      },
      '/.well-known/jwks.json': {
        get: {
          tags: ['executors'],
          operationId: 'getJwks',
          summary: 'Grant verification keys (current and previous)',
          security: [],
          responses: {
            '200': { description: 'The key set (RFC 7517)', content: { 'application/jwk-set+json': { schema: ref('Jwks') } } },
            '304': { description: 'Not modified (If-None-Match)' },
          },
        },
      },
      '/healthz': {
        get: { tags: ['operations'], operationId: 'health', summary: 'Liveness', security: [], responses: { '200': json(ref('Health'), 'Alive') } },
      },
      '/readyz': {
        get: {
          tags: ['operations'],
          operationId: 'ready',
          summary: 'Readiness: Redis reachable',
          security: [],
          responses: { '200': json(ref('Readiness'), 'Ready'), '503': json(ref('Readiness'), 'Redis unreachable') },
        },
      },
      '/metrics': {
        get: {
          tags: ['operations'],
          operationId: 'metrics',
          summary: 'Prometheus metrics',
          security: [],
          responses: { '200': { description: 'Prometheus text exposition', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
      '/openapi.json': {
        get: {
          tags: ['operations'],
          operationId: 'openapi',
          summary: 'This document',
          security: [],
          responses: { '200': json({ type: 'object' }, 'OpenAPI 3.1') },
        },
      },
      '/slack/events': {
        post: {
          tags: ['slack'],
          operationId: 'slackEvents',
          summary: 'Slack events, interactions and slash commands (HTTP mode)',
          description: 'Signed by Slack (`X-Slack-Signature`, v0 HMAC-SHA256 with the signing secret). Not needed in Socket Mode.',
          security: [{ slackSignature: [] }],
          requestBody: {
            required: true,
            content: {
              'application/x-www-form-urlencoded': { schema: { type: 'object', additionalProperties: { type: 'string' } } },
              'application/json': { schema: { type: 'object' } },
            },
          },
          responses: { '200': { description: 'Acknowledged' }, '401': { description: 'Bad or stale Slack signature' } },
        },
      },
    },
    components: {
      schemas: schemas(),
      securitySchemes: {
        oidc: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'An OIDC token from the agent’s workload identity (policies/agents.yaml, auth.method oidc)' },
        countersignAgent: { type: 'apiKey', in: 'header', name: 'Countersign-Agent', description: 'The registered agent id; with the three Standard Webhooks headers' },
        webhookId: { type: 'apiKey', in: 'header', name: 'webhook-id', description: 'Standard Webhooks: a unique message id (never reused)' },
        webhookTimestamp: { type: 'apiKey', in: 'header', name: 'webhook-timestamp', description: 'Standard Webhooks: epoch seconds, within 5 minutes' },
        webhookSignature: {
          type: 'apiKey',
          in: 'header',
          name: 'webhook-signature',
          description: '`v1,` + base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{raw body}` keyed with the agent’s `whsec_` secret',
        },
        slackSignature: { type: 'apiKey', in: 'header', name: 'X-Slack-Signature', description: 'Slack request signing (v0)' },
      },
    },
  };
}

/** The document as committed: two-space JSON with a final newline. */
export function openApiText(): string {
  return `${JSON.stringify(openApiDocument(), null, 2)}\n`;
}
