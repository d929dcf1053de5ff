import { randomUUID } from 'node:crypto';
import type { GateView } from '../app/gate-view.js';
import type { GateRequest } from '../core/gate-request.js';
import type { GateState } from '../core/gate-state.js';
import { webhookHeaders } from '../adapters/http/auth/standard-webhooks.js';
import type { GrantClaims } from './verify-grant.js';
import { CountersignApiError, CountersignClientError, WaitTimeoutError, problemFrom } from './errors.js';

export type { GateView } from '../app/gate-view.js';
export type { GateState } from '../core/gate-state.js';

/** The body of `POST /v1/gates`, as an agent writes it (see examples/*.json). */
export type GateRequestBody = GateRequest;

export interface CountersignClientOptions {
  /** The service's base URL, e.g. `https://countersign.example.com`. */
  url: string;
  /** The agent's registered id (`policies/agents.yaml`). */
  agentId: string;
  /** The agent's Standard Webhooks secret (`whsec_…`): requests are HMAC-signed. */
  secret?: string;
  /** Or an OIDC token from the workload identity (a function is called for every request). */
  token?: string | (() => string | Promise<string>);
  /** Attempts after a network error or a 503 (default 2); every call is safe to repeat. */
  retries?: number;
  /** `fetch` to use (default the global one). */
  fetch?: typeof fetch;
  /** Longest one request (and its answer) may take before it counts as failed (default 30 s). */
  requestTimeoutMs?: number;
}

/** The longest `Retry-After` honoured between attempts: a service asking for more is not waited on. */
const MAX_RETRY_AFTER_MS = 60_000;

/** What bounds one call: the caller's signal, and a time by which it must be over (epoch ms). */
interface CallLimits {
  signal?: AbortSignal | undefined;
  deadline?: number;
  /**
   * False for a call that must not run twice (consuming a grant): after a network error it is
   * tried again only when the request surely never reached the service.
   */
  repeatable?: boolean;
}

/** Network errors that mean the request was never sent (nothing listened, the name did not resolve). */
const UNSENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function neverSent(err: unknown): boolean {
  const code = (err as { cause?: { code?: unknown } }).cause?.code ?? (err as { code?: unknown }).code;
  return typeof code === 'string' && UNSENT.has(code);
}

/** The answer of {@link CountersignClient.redeem}: the grant and what it allows. */
export interface RedeemedGrant {
  /** The ES256 JWT to hand to the executor. */
  grant: string;
  /** ISO 8601; the grant is useless afterwards. */
  expiresAt: string;
  claims: GrantClaims;
  gate: GateView;
}

/** One downstream call made with a grant, for the audit chain. */
export interface OutcomeCall {
  action?: string;
  target?: string;
  method?: string;
  status?: number | string;
  /** ISO 8601 with offset. */
  at?: string;
  detail?: string;
}

export interface OutcomeReport {
  status: 'succeeded' | 'failed';
  calls?: OutcomeCall[];
  summary?: string;
}

/** The introspection answer: the claims when the grant was consumed now, else why not. */
export type IntrospectionResult = ({ active: true } & GrantClaims) | { active: false; reason: string };

export interface WaitOptions {
  /** Give up after this long with a {@link WaitTimeoutError} (default 1 hour). */
  timeoutMs?: number;
  /** Called with the gate whenever its state changes (and once with the first state seen). */
  onChange?: (gate: GateView, previous: GateState | undefined) => void;
  /** First pause between polls (default 500 ms); it grows by half each time, up to `maxIntervalMs`. */
  intervalMs?: number;
  /** Longest pause between polls (default 5 s). */
  maxIntervalMs?: number;
  signal?: AbortSignal;
}

/** States after which nothing will change without the agent acting. */
const SETTLED: ReadonlySet<GateState> = new Set<GateState>(['approved', 'redeemed', 'rejected', 'denied', 'expired', 'invalidated', 'cancelled', 'completed', 'failed']);

/**
 * The agent side of Countersign's HTTP API: ask for a gate, wait for reviewers, redeem the
 * grant, report the outcome. Requests are signed with the agent's Standard Webhooks secret
 * (or carry its OIDC token); errors are {@link CountersignApiError}s with the problem document.
 *
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { CountersignClient, evidenceHash } from 'countersign/client';
 *
 * const client = new CountersignClient({
 *   url: 'http://localhost:3000',
 *   agentId: 'iam-agent',
 *   secret: process.env.COUNTERSIGN_AGENT_IAM_AGENT_SECRET,
 * });
 * const request = JSON.parse(readFileSync('examples/iam-attach-admin-policy.json', 'utf8'));
 * const gate = await client.submit(request);                  // pending_review: reviewers are asked in Slack
 * const decided = await client.wait(gate.id, {
 *   onChange: (g) => console.log(g.state),                    // approved | denied | expired | …
 * });
 * if (decided.state === 'approved') {
 *   const { grant } = await client.redeem(gate.id, evidenceHash(request)); // hash of what will run
 *   await runWith(grant);                                     // the executor verifies and consumes it
 *   await client.reportOutcome(gate.id, { status: 'succeeded', calls: [{ action: 'iam.attach_role_policy', status: 200 }] });
 * }
 * ```
 */
export class CountersignClient {
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;
  private readonly retries: number;
  private readonly requestTimeoutMs: number;

  constructor(private readonly options: CountersignClientOptions) {
    if (!options.secret && !options.token) throw new TypeError('CountersignClient needs a secret (HMAC) or a token (OIDC)');
    this.base = options.url.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? fetch;
    this.retries = options.retries ?? 2;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /**
   * Asks for a gate (`POST /v1/gates`). The answer says what policy decided: `approved`
   * (allowed now), `pending_review` (reviewers asked) or `rejected` (with `decision.reason`).
   * A retry with the same `idempotencyKey` returns the same gate; one is generated when absent
   * and reused by this call's own retries.
   *
   * @example
   * ```ts
   * const gate = await client.submit(request, { idempotencyKey: `deploy-${buildId}` });
   * if (gate.state === 'rejected') throw new Error(gate.decision.reason);
   * ```
   */
  async submit(request: GateRequestBody | Record<string, unknown>, options: { idempotencyKey?: string } = {}): Promise<GateView> {
    return this.send<GateView>('POST', '/v1/gates', request, { 'idempotency-key': options.idempotencyKey ?? randomUUID() });
  }

  /** The gate as it is now (`GET /v1/gates/:id`; an agent sees its own gates only). */
  async get(gateId: string, limits: CallLimits = {}): Promise<GateView> {
    return this.send<GateView>('GET', `/v1/gates/${encodeURIComponent(gateId)}`, undefined, {}, limits);
  }

  /**
   * Polls the gate until it leaves `pending_review` and resolves with it: `approved`, `denied`
   * (`resolution.reason` says why), `expired`, `cancelled`, `invalidated`… Polls back off from
   * `intervalMs` to `maxIntervalMs`. Rejects with {@link WaitTimeoutError} after `timeoutMs`.
   *
   * @example
   * ```ts
   * const gate = await client.wait(id, { timeoutMs: 15 * 60_000, onChange: (g, was) => log(`${was} → ${g.state}`) });
   * ```
   */
  async wait(gateId: string, options: WaitOptions = {}): Promise<GateView> {
    const deadline = Date.now() + (options.timeoutMs ?? 3_600_000);
    const maxInterval = options.maxIntervalMs ?? 5_000;
    let interval = options.intervalMs ?? 500;
    let previous: GateState | undefined;
    const timeoutMs = options.timeoutMs ?? 3_600_000;
    for (;;) {
      options.signal?.throwIfAborted();
      let gate: GateView;
      try {
        // Each poll, its retries and their pauses end by the deadline, however the service behaves.
        gate = await this.get(gateId, { signal: options.signal, deadline });
      } catch (err) {
        if (err instanceof CountersignClientError && err.code === 'ERR_TIMEOUT') {
          throw new WaitTimeoutError(gateId, previous ?? 'unknown', timeoutMs);
        }
        throw err;
      }
      if (gate.state !== previous) {
        options.onChange?.(gate, previous);
        previous = gate.state;
      }
      if (SETTLED.has(gate.state)) return gate;
      const left = deadline - Date.now();
      if (left <= 0) throw new WaitTimeoutError(gateId, gate.state, timeoutMs);
      // ±20 % jitter, so that many agents waiting on one service do not poll in step.
      await sleep(Math.min(left, interval * (0.8 + Math.random() * 0.4)), options.signal);
      interval = Math.min(maxInterval, interval * 1.5);
    }
  }

  /**
   * Redeems an approved gate for its one grant (`POST /v1/gates/:id/redeem`). `evidenceHash`
   * must be the hash of exactly what is about to run ({@link evidenceHash} of the request body);
   * any difference voids the approval (`ERR_EVIDENCE_DRIFT`). The call's retries reuse one
   * Idempotency-Key, so a lost answer still yields the same grant.
   */
  async redeem(gateId: string, evidenceHash: string, options: { idempotencyKey?: string } = {}): Promise<RedeemedGrant> {
    return this.send<RedeemedGrant>('POST', `/v1/gates/${encodeURIComponent(gateId)}/redeem`, { evidenceHash }, {
      'idempotency-key': options.idempotencyKey ?? randomUUID(),
    });
  }

  /** Reports how the run went (`POST /v1/gates/:id/outcome`): closes the audit chain. */
  async reportOutcome(gateId: string, report: OutcomeReport): Promise<GateView> {
    return this.send<GateView>('POST', `/v1/gates/${encodeURIComponent(gateId)}/outcome`, { ...report, calls: report.calls ?? [] });
  }

  /** Withdraws a gate that is still waiting or approved (`POST /v1/gates/:id/cancel`). */
  async cancel(gateId: string, reason?: string): Promise<GateView> {
    return this.send<GateView>('POST', `/v1/gates/${encodeURIComponent(gateId)}/cancel`, reason === undefined ? undefined : { reason });
  }

  /**
   * For executors (a client built with an executor's id and secret): consumes a grant once
   * (`POST /v1/grants/introspect`, RFC 7662). `active: false` comes with a `reason`, e.g.
   * `already_used`. Verify the grant with {@link verifyGrant} first, then call this just before acting.
   */
  async introspect(grant: string): Promise<IntrospectionResult> {
    // Consuming is not repeatable: an answer lost on the way back is not asked for again (the
    // second ask would find the grant used). The error says so; do not act on the grant then.
    return this.send<IntrospectionResult>('POST', '/v1/grants/introspect', { token: grant }, {}, { repeatable: false });
  }

  private async send<T>(method: string, path: string, json?: unknown, extra: Record<string, string> = {}, limits: CallLimits = {}): Promise<T> {
    const body = json === undefined ? '' : JSON.stringify(json);
    const left = () => (limits.deadline === undefined ? Number.POSITIVE_INFINITY : limits.deadline - Date.now());
    const timedOut = () => new CountersignClientError('ERR_TIMEOUT', `${method} ${path}: no answer in time`);
    /** Waits before the next attempt, never past the deadline. */
    const pause = async (ms: number) => {
      if (left() <= ms) throw timedOut();
      await sleep(ms, limits.signal);
    };
    for (let attempt = 0; ; attempt += 1) {
      limits.signal?.throwIfAborted();
      if (left() <= 0) throw timedOut();
      const timeout = AbortSignal.timeout(Math.max(1, Math.min(this.requestTimeoutMs, left())));
      const signal = limits.signal ? AbortSignal.any([limits.signal, timeout]) : timeout;
      let res: Response;
      let text: string;
      try {
        // Signed afresh on every attempt: the service refuses a webhook-id it has seen.
        res = await this.fetchImpl(`${this.base}${path}`, { method, headers: await this.headers(body, extra), signal, ...(body ? { body } : {}) });
        text = await res.text();
      } catch (err) {
        if (limits.signal?.aborted) throw limits.signal.reason;
        if (limits.repeatable === false && !neverSent(err)) {
          throw new CountersignClientError('ERR_NETWORK', `${method} ${path}: the answer was lost after the request may have arrived, so it is not sent again (it may have taken effect): ${(err as Error).message}`, { cause: err });
        }
        if (attempt < this.retries) {
          await pause(250 * 4 ** attempt);
          continue;
        }
        if (timeout.aborted) throw timedOut();
        throw new CountersignClientError('ERR_NETWORK', `cannot reach ${this.base}: ${(err as Error).message}`, { cause: err });
      }
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: kept as text for the error below
      }
      if (res.ok) {
        if (typeof parsed !== 'object' || parsed === null) throw new CountersignClientError('ERR_BAD_RESPONSE', `${method} ${path} answered ${res.status} without a JSON body`);
        return parsed as T;
      }
      if (res.status === 503 && attempt < this.retries) {
        const asked = Number(res.headers.get('retry-after') ?? 0) * 1000;
        await pause(Math.min(MAX_RETRY_AFTER_MS, Math.max(250, Number.isFinite(asked) ? asked : 1_000)));
        continue;
      }
      throw new CountersignApiError(problemFrom(res.status, res.statusText, parsed));
    }
  }

  private async headers(body: string, extra: Record<string, string>): Promise<Record<string, string>> {
    const headers: Record<string, string> = { accept: 'application/json', 'countersign-agent': this.options.agentId, ...extra };
    if (body) headers['content-type'] = 'application/json';
    if (this.options.token !== undefined) {
      const token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token;
      headers.authorization = `Bearer ${token}`;
    } else {
      Object.assign(headers, webhookHeaders(this.options.secret as string, body));
    }
    return headers;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
