/**
 * One error family for the whole product. Each edge (HTTP, Slack, jobs, CLI) maps
 * `code` to its own language in one place; nothing else inspects messages.
 */
export const ErrorCode = {
  // request and input
  InvalidRequest: 'ERR_INVALID_REQUEST',
  MalformedJson: 'ERR_MALFORMED_JSON',
  UnsupportedMediaType: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  PayloadTooLarge: 'ERR_PAYLOAD_TOO_LARGE',
  NotCanonicalizable: 'ERR_NOT_CANONICALIZABLE',
  MethodNotAllowed: 'ERR_METHOD_NOT_ALLOWED',
  RouteNotFound: 'ERR_ROUTE_NOT_FOUND',
  // authentication
  Unauthenticated: 'ERR_UNAUTHENTICATED',
  BadSignature: 'ERR_BAD_SIGNATURE',
  StaleTimestamp: 'ERR_STALE_TIMESTAMP',
  ReplayedMessage: 'ERR_REPLAYED_MESSAGE',
  UnknownAgent: 'ERR_UNKNOWN_AGENT',
  InvalidToken: 'ERR_INVALID_TOKEN',
  // idempotency
  IdempotencyKeyMissing: 'ERR_IDEMPOTENCY_KEY_MISSING',
  IdempotencyKeyReused: 'ERR_IDEMPOTENCY_KEY_REUSED',
  // gates
  GateNotFound: 'ERR_GATE_NOT_FOUND',
  GateNotPending: 'ERR_GATE_NOT_PENDING',
  GateConflict: 'ERR_GATE_CONFLICT',
  DeadlinePassed: 'ERR_DEADLINE_PASSED',
  // dual control
  SelfApproval: 'ERR_SELF_APPROVAL',
  OwnerApproval: 'ERR_OWNER_APPROVAL',
  NotAReviewer: 'ERR_NOT_A_REVIEWER',
  AlreadyVoted: 'ERR_ALREADY_VOTED',
  // execution
  EvidenceDrift: 'ERR_EVIDENCE_DRIFT',
  GrantReplay: 'ERR_GRANT_REPLAY',
  PolicyTightened: 'ERR_POLICY_TIGHTENED',
  // calls to agents (callbacks, revalidation)
  DestinationRefused: 'ERR_DESTINATION_REFUSED',
  SlackPayloadInvalid: 'ERR_SLACK_PAYLOAD_INVALID',
  MalformedHttp: 'ERR_MALFORMED_HTTP',
  HeadersTooLarge: 'ERR_HEADERS_TOO_LARGE',
  // policy and configuration
  PolicyInvalid: 'ERR_POLICY_INVALID',
  ConfigInvalid: 'ERR_CONFIG_INVALID',
  // infrastructure
  StoreUnavailable: 'ERR_STORE_UNAVAILABLE',
  /** An OIDC issuer's keys could not be fetched: the token is neither accepted nor refused. */
  IssuerUnavailable: 'ERR_ISSUER_UNAVAILABLE',
  Internal: 'ERR_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** A field that failed validation: a JSON pointer into the input and what is wrong there. */
export interface FieldIssue {
  pointer: string;
  message: string;
}

export interface CountersignErrorOptions {
  cause?: unknown;
  /** Validation problems, for `ERR_INVALID_REQUEST` and friends. */
  issues?: FieldIssue[];
  /** Extra, safe-to-show facts for the edge (e.g. the gate's current state). */
  details?: Record<string, unknown>;
}

/** Base of every error the product raises on purpose. `switch (err.code)` narrows. */
export class CountersignError extends Error {
  override readonly name: string = 'CountersignError';
  readonly code: ErrorCode;
  readonly issues: FieldIssue[];
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: CountersignErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.issues = options.issues ?? [];
    this.details = options.details ?? {};
  }
}

/** True when `err` is one of ours, optionally with the given code. */
export function isCountersignError(err: unknown, code?: ErrorCode): err is CountersignError {
  return err instanceof CountersignError && (code === undefined || err.code === code);
}
