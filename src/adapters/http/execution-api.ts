import { gateView } from '../../app/gate-view.js';
import { introspect } from '../../app/introspect-grant.js';
import type { AppContext } from '../../app/ports.js';
import { redeemGrant, type GrantPorts, type RedeemInput } from '../../app/redeem-grant.js';
import { reportOutcome } from '../../app/report-outcome.js';
import { CountersignError, ErrorCode } from '../../core/errors.js';
import { GATE_ID } from '../../core/ids.js';
import { jwksResponse } from '../credentials/jwks.js';
import { authenticated, jsonBody, type Authenticator } from './agent-api.js';
import type { RouteRequest, Router } from './router.js';

const NO_STORE = { 'cache-control': 'no-store' };
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

function gateIdParam(request: RouteRequest): string {
  const id = request.params.id ?? '';
  // A malformed id cannot name a gate: answer exactly as for an unknown one.
  if (!GATE_ID.test(id)) throw new CountersignError(ErrorCode.GateNotFound, `no gate ${id.slice(0, 64)}`);
  return id;
}

function optionalIdempotencyKey(request: RouteRequest): string | undefined {
  const key = request.headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key)) {
    throw new CountersignError(ErrorCode.IdempotencyKeyMissing, 'the Idempotency-Key must be 1–255 visible ASCII characters');
  }
  return key;
}

/**
 * The introspection request: JSON, or the form encoding RFC 7662 §2.1 specifies
 * (`token=…[&token_type_hint=…]`), so that stock introspection clients work too.
 */
function introspectionBody(request: RouteRequest, rawBody: Buffer): Record<string, unknown> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return jsonBody(request, rawBody);
  const form = new URLSearchParams(rawBody.toString('utf8'));
  const unknown = [...new Set(form.keys())].filter((name) => name !== 'token' && name !== 'token_type_hint');
  const tokens = form.getAll('token');
  if (unknown.length > 0 || tokens.length > 1) {
    const what = unknown.length > 0 ? `unknown parameter ${unknown[0]!.slice(0, 40)}` : 'token given more than once';
    throw new CountersignError(ErrorCode.InvalidRequest, `introspection takes token (and token_type_hint): ${what}`, {
      issues: [{ pointer: `/${unknown[0] ?? 'token'}`, message: what }],
    });
  }
  return tokens.length === 1 ? { token: tokens[0] } : {};
}

/**
 * The routes of the execution phase (DESIGN.md, "HTTP API"): redeem and outcome for agents,
 * introspection for executors, and the public keys for anyone who verifies grants.
 */
export function mountExecutionApi(router: Router, ctx: AppContext, auth: Authenticator, grants: GrantPorts): void {
  router.on('POST', '/v1/gates/:id/redeem', async (request) => {
    // The gate read rides with the replay check (one round trip); redeemGrant uses it.
    let read: RedeemInput['read'];
    const alongside = () => (read = ctx.store.readForRedeem(gateIdParam(request)));
    const { agent, rawBody } = await authenticated(auth, request, 'agent', { alongside });
    const body = jsonBody(request, rawBody, ['evidenceHash']);
    const key = optionalIdempotencyKey(request);
    const result = await redeemGrant(ctx, grants, {
      agent,
      gateId: gateIdParam(request),
      ...(read ? { read } : {}),
      evidenceHash: body.evidenceHash as string,
      ...(key !== undefined ? { idempotencyKey: key } : {}),
    });
    return {
      status: 200,
      body: { grant: result.token, expiresAt: new Date(result.expiresAt).toISOString(), claims: result.claims, gate: gateView(result.gate) },
      headers: { ...NO_STORE, ...(result.redelivered ? { 'idempotent-replayed': 'true' } : {}) },
    };
  });

  router.on('POST', '/v1/gates/:id/outcome', async (request) => {
    const { agent, rawBody } = await authenticated(auth, request);
    const body = jsonBody(request, rawBody);
    const { gate } = await reportOutcome(ctx, { agent, gateId: gateIdParam(request), body });
    return { status: 200, body: gateView(gate) };
  });

  router.on('POST', '/v1/grants/introspect', async (request) => {
    const { agent: executor, rawBody } = await authenticated(auth, request, 'executor');
    const answer = await introspect(ctx, grants, { executor, body: introspectionBody(request, rawBody) });
    // RFC 7662 §2.2: always 200; `active` carries the verdict. Never cached: the next answer differs.
    return { status: 200, body: answer, headers: { ...NO_STORE, pragma: 'no-cache' } };
  });

  router.on('GET', '/.well-known/jwks.json', async (request) => {
    const inm = request.headers['if-none-match'];
    const answer = jwksResponse(grants.ring(), ctx.now(), Array.isArray(inm) ? inm.join(', ') : inm);
    request.req.resume();
    return { status: answer.status, raw: answer.body, headers: answer.headers };
  });
}
