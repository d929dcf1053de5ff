import type { IncomingHttpHeaders } from 'node:http';
import { cancelGate } from '../../app/cancel-gate.js';
import { gateView } from '../../app/gate-view.js';
import type { AppContext } from '../../app/ports.js';
import { submitGate } from '../../app/submit-gate.js';
import { CountersignError, ErrorCode } from '../../core/errors.js';
import { LIMITS } from '../../core/gate-request.js';
import { GATE_ID } from '../../core/ids.js';
import type { AgentRegistration } from '../../core/policy/agents.js';
import type { AuthOptions } from './auth/authenticate.js';
import { parseJsonObject, readBody, requireJsonContentType } from './body.js';
import type { RouteRequest, Router } from './router.js';

/** Authenticates an agent or executor from the raw request. */
export interface Authenticator {
  authenticate(req: { headers: IncomingHttpHeaders; rawBody: Buffer }, role?: 'agent' | 'executor', options?: AuthOptions): Promise<AgentRegistration>;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** Reads the body within limits and authenticates its sender (the signature covers the raw bytes). */
export async function authenticated(
  auth: Authenticator,
  request: RouteRequest,
  role: 'agent' | 'executor' = 'agent',
  options: AuthOptions = {},
): Promise<{ agent: AgentRegistration; rawBody: Buffer }> {
  const rawBody = await readBody(request.req, LIMITS.bodyBytes);
  const agent = await auth.authenticate({ headers: request.headers, rawBody }, role, options);
  return { agent, rawBody };
}

/** Parses a JSON body of an authenticated request (content type checked after authentication). */
export function jsonBody(request: RouteRequest, rawBody: Buffer, members?: readonly string[]): Record<string, unknown> {
  requireJsonContentType(request.req);
  const body = parseJsonObject(rawBody);
  if (members !== undefined) {
    // Only the documented members: a body written for something else (a callback or a
    // revalidation request we sent, say) is not taken for this one.
    const unknown = Object.keys(body).filter((key) => !members.includes(key));
    if (unknown.length > 0) {
      throw new CountersignError(ErrorCode.InvalidRequest, `unknown member${unknown.length === 1 ? '' : 's'} ${unknown.map((k) => JSON.stringify(k.slice(0, 64))).join(', ')}; this body takes ${members.join(', ')}`, {
        issues: unknown.slice(0, 20).map((key) => ({ pointer: `/${key.slice(0, 64).replaceAll('~', '~0').replaceAll('/', '~1')}`, message: 'is not a member of this body' })),
      });
    }
  }
  return body;
}

function gateIdParam(request: RouteRequest): string {
  const id = request.params.id ?? '';
  // A malformed id cannot name a gate: answer exactly as for an unknown one.
  if (!GATE_ID.test(id)) throw new CountersignError(ErrorCode.GateNotFound, `no gate ${id.slice(0, 64)}`);
  return id;
}

/** The agent-facing gate routes (DESIGN.md, "HTTP API"). */
export function mountAgentApi(router: Router, ctx: AppContext, auth: Authenticator): void {
  router.on('POST', '/v1/gates', async (request) => {
    const { agent, rawBody } = await authenticated(auth, request);
    const key = request.headers['idempotency-key'];
    if (typeof key !== 'string' || key.length === 0) {
      throw new CountersignError(ErrorCode.IdempotencyKeyMissing, 'send an Idempotency-Key header (a unique string per gate request)');
    }
    if (!IDEMPOTENCY_KEY.test(key)) {
      throw new CountersignError(ErrorCode.IdempotencyKeyMissing, 'the Idempotency-Key must be 1–255 visible ASCII characters');
    }
    const body = jsonBody(request, rawBody);
    const { gate, created } = await submitGate(ctx, { agent, body, idempotencyKey: key });
    return {
      status: created ? 201 : 200,
      body: gateView(gate),
      headers: { location: `/v1/gates/${gate.id}`, ...(created ? {} : { 'idempotent-replayed': 'true' }) },
    };
  });

  router.on('GET', '/v1/gates/:id', async (request) => {
    const { agent } = await authenticated(auth, request);
    const gate = await ctx.store.getOwned(gateIdParam(request), agent.id, ctx.now());
    return { status: 200, body: gateView(gate), headers: { 'cache-control': 'no-store' } };
  });

  router.on('POST', '/v1/gates/:id/cancel', async (request) => {
    const { agent, rawBody } = await authenticated(auth, request);
    let reason: string | undefined;
    if (rawBody.length > 0) {
      const body = jsonBody(request, rawBody, ['reason']);
      if (body.reason !== undefined && (typeof body.reason !== 'string' || body.reason.length > 2000)) {
        throw new CountersignError(ErrorCode.InvalidRequest, 'reason must be a string of at most 2000 characters', {
          issues: [{ pointer: '/reason', message: 'must be a string of at most 2000 characters' }],
        });
      }
      reason = body.reason as string | undefined;
    }
    const gate = await cancelGate(ctx, { agent, gateId: gateIdParam(request), ...(reason ? { reason } : {}) });
    return { status: 200, body: gateView(gate) };
  });
}
