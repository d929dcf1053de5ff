import type { ServerResponse } from 'node:http';
import { CountersignError, ErrorCode, type FieldIssue } from '../../core/errors.js';

/** Stable problem type URIs (RFC 9457 §3.1.1): agents branch on these, never on `detail`. */
export const PROBLEM_BASE = 'https://countersign.dev/problems/';

interface ProblemKind {
  status: number;
  slug: string;
  title: string;
}

/** Error code → HTTP status, problem type and title. The one place HTTP speaks for errors. */
const KINDS: Record<ErrorCode, ProblemKind> = {
  ERR_INVALID_REQUEST: { status: 422, slug: 'invalid-request', title: 'The request body is not a valid gate request' },
  ERR_MALFORMED_JSON: { status: 400, slug: 'malformed-json', title: 'The body is not valid JSON' },
  ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, slug: 'unsupported-media-type', title: 'Send application/json' },
  ERR_PAYLOAD_TOO_LARGE: { status: 413, slug: 'payload-too-large', title: 'The body is larger than allowed' },
  ERR_NOT_CANONICALIZABLE: { status: 422, slug: 'not-canonicalizable', title: 'The body cannot be canonicalized (RFC 8785)' },
  ERR_METHOD_NOT_ALLOWED: { status: 405, slug: 'method-not-allowed', title: 'Method not allowed on this route' },
  ERR_ROUTE_NOT_FOUND: { status: 404, slug: 'not-found', title: 'No such route' },
  ERR_UNAUTHENTICATED: { status: 401, slug: 'unauthenticated', title: 'Authentication required' },
  ERR_BAD_SIGNATURE: { status: 401, slug: 'bad-signature', title: 'The request signature does not verify' },
  ERR_STALE_TIMESTAMP: { status: 401, slug: 'stale-timestamp', title: 'The request timestamp is outside the tolerance' },
  ERR_REPLAYED_MESSAGE: { status: 401, slug: 'replayed-message', title: 'This webhook-id was used before' },
  ERR_UNKNOWN_AGENT: { status: 401, slug: 'unknown-agent', title: 'No such agent is registered' },
  ERR_INVALID_TOKEN: { status: 401, slug: 'invalid-token', title: 'The bearer token is not valid' },
  ERR_IDEMPOTENCY_KEY_MISSING: { status: 400, slug: 'idempotency-key-missing', title: 'Idempotency-Key header is required' },
  ERR_IDEMPOTENCY_KEY_REUSED: { status: 422, slug: 'idempotency-key-reused', title: 'This Idempotency-Key was used with another body' },
  ERR_GATE_NOT_FOUND: { status: 404, slug: 'gate-not-found', title: 'No such gate' },
  ERR_GATE_NOT_PENDING: { status: 409, slug: 'gate-not-pending', title: 'The gate is not waiting for review' },
  ERR_GATE_CONFLICT: { status: 409, slug: 'gate-conflict', title: 'The gate is not in a state that allows this' },
  ERR_DEADLINE_PASSED: { status: 410, slug: 'gate-expired', title: 'The gate expired' },
  ERR_SELF_APPROVAL: { status: 403, slug: 'self-approval', title: 'Requesters cannot approve their own gate' },
  ERR_OWNER_APPROVAL: { status: 403, slug: 'owner-approval', title: "The agent's owner cannot approve" },
  ERR_NOT_A_REVIEWER: { status: 403, slug: 'not-a-reviewer', title: 'Not in the reviewer set' },
  ERR_ALREADY_VOTED: { status: 409, slug: 'already-voted', title: 'Already voted' },
  ERR_EVIDENCE_DRIFT: { status: 409, slug: 'evidence-drift', title: 'The evidence changed since review: request a new gate' },
  ERR_GRANT_REPLAY: { status: 409, slug: 'grant-replay', title: 'The grant for this gate was issued already' },
  ERR_POLICY_TIGHTENED: { status: 409, slug: 'policy-tightened', title: 'Current policy decides more strictly: request a new gate' },
  ERR_SLACK_PAYLOAD_INVALID: { status: 400, slug: 'slack-payload-invalid', title: 'The Slack request has a shape Slack does not send' },
  ERR_MALFORMED_HTTP: { status: 400, slug: 'malformed-http', title: 'The request is not valid HTTP/1.1' },
  ERR_HEADERS_TOO_LARGE: { status: 431, slug: 'headers-too-large', title: 'The request headers are too large' },
  ERR_DESTINATION_REFUSED: { status: 422, slug: 'destination-refused', title: 'The URL leads to an address this deployment does not call' },
  ERR_POLICY_INVALID: { status: 500, slug: 'policy-invalid', title: 'The policy set is invalid' },
  ERR_CONFIG_INVALID: { status: 500, slug: 'config-invalid', title: 'The configuration is invalid' },
  ERR_STORE_UNAVAILABLE: { status: 503, slug: 'store-unavailable', title: 'The store is unavailable; retry with the same Idempotency-Key' },
  ERR_ISSUER_UNAVAILABLE: { status: 503, slug: 'issuer-unavailable', title: "The token issuer's keys could not be fetched; retry" },
  ERR_INTERNAL: { status: 500, slug: 'internal', title: 'Internal error' },
};

/** An RFC 9457 problem details object. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance?: string;
  errors?: FieldIssue[];
  [extension: string]: unknown;
}

/** True for the errors ioredis raises when Redis cannot be reached (not our bugs: a 503, not a 500). */
export function isStoreOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: string }).code;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'ETIMEDOUT' ||
    /Connection is closed|Stream isn't writeable|LOADING|READONLY/.test(err.message) ||
    isStoreTimeout(err)
  );
}

/** Redis did not answer in time (see COMMAND_TIMEOUT_MS): what was sent may still take effect. */
function isStoreTimeout(err: Error): boolean {
  return err.message === 'Command timed out';
}

/** Maps any thrown value to a problem. Unknown errors become a bare 500 without internals. */
export function toProblem(err: unknown, instance?: string): Problem {
  const known =
    err instanceof CountersignError
      ? err
      : isStoreOutage(err)
        ? new CountersignError(
            ErrorCode.StoreUnavailable,
            isStoreTimeout(err as Error)
              ? 'the store did not answer in time; what was asked may still be recorded: retry with the same Idempotency-Key'
              : 'the store is unreachable; nothing was recorded, retry with the same Idempotency-Key',
          )
        : new CountersignError(ErrorCode.Internal, 'an internal error occurred');
  const kind = KINDS[known.code];
  const problem: Problem = {
    type: `${PROBLEM_BASE}${kind.slug}`,
    title: kind.title,
    status: kind.status,
    detail: known.message,
    code: known.code,
  };
  if (instance) problem.instance = instance;
  if (known.issues.length > 0) problem.errors = known.issues;
  for (const [k, v] of Object.entries(known.details)) if (!(k in problem)) problem[k] = v;
  return problem;
}

/** Writes a problem as `application/problem+json`. */
export function sendProblem(res: ServerResponse, problem: Problem, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(problem);
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(problem.status, {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...(problem.status === 401 ? { 'www-authenticate': 'Bearer, StandardWebhooks' } : {}),
    ...(problem.status === 503 ? { 'retry-after': '1' } : {}),
    ...headers,
  });
  res.end(body);
}
