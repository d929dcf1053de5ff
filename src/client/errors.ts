/**
 * Errors the client throws. Every one carries a stable `code` to switch on; an HTTP refusal
 * also carries the service's RFC 9457 problem document, unchanged.
 */

/** An RFC 9457 problem as Countersign sends it (`application/problem+json`). */
export interface ProblemDetails {
  /** Stable URI, e.g. `https://countersign.dev/problems/gate-not-found`: branch on this or on `code`. */
  type: string;
  title: string;
  status: number;
  /** A human explanation; never parse it. */
  detail: string;
  /** The service's error code, e.g. `ERR_EVIDENCE_DRIFT`. */
  code: string;
  instance?: string;
  /** For validation problems: the failing fields as JSON pointers. */
  errors?: { pointer: string; message: string }[];
  [extension: string]: unknown;
}

/** Base class of every error this client throws. */
export class CountersignClientError extends Error {
  override readonly name: string = 'CountersignClientError';

  constructor(
    /** `ERR_NETWORK`, `ERR_WAIT_TIMEOUT`, `ERR_BAD_RESPONSE`, or the service's code for API errors. */
    readonly code: string,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** The service answered with an error status; `problem` is its problem document. */
export class CountersignApiError extends CountersignClientError {
  override readonly name = 'CountersignApiError';
  readonly status: number;
  readonly problem: ProblemDetails;

  constructor(problem: ProblemDetails) {
    super(problem.code, `${problem.status} ${problem.title}: ${problem.detail}`);
    this.status = problem.status;
    this.problem = problem;
  }

  /** The problem type's last segment, e.g. `evidence-drift`. */
  get type(): string {
    return this.problem.type.slice(this.problem.type.lastIndexOf('/') + 1);
  }
}

/** {@link CountersignClient.wait} gave up before the gate left `pending_review`. */
export class WaitTimeoutError extends CountersignClientError {
  override readonly name = 'WaitTimeoutError';

  constructor(
    readonly gateId: string,
    /** The last state seen. */
    readonly state: string,
    timeoutMs: number,
  ) {
    super('ERR_WAIT_TIMEOUT', `gate ${gateId} is still ${state} after ${Math.round(timeoutMs / 1000)} s`);
  }
}

/** Turns a non-2xx answer into a {@link CountersignApiError}, whatever the body looks like. */
export function problemFrom(status: number, statusText: string, body: unknown): ProblemDetails {
  if (typeof body === 'object' && body !== null && typeof (body as ProblemDetails).type === 'string') {
    const p = body as ProblemDetails;
    return { ...p, status: typeof p.status === 'number' ? p.status : status, code: typeof p.code === 'string' ? p.code : `HTTP_${status}`, detail: String(p.detail ?? '') };
  }
  return { type: 'about:blank', title: statusText || `HTTP ${status}`, status, detail: typeof body === 'string' ? body.slice(0, 500) : '', code: `HTTP_${status}` };
}
