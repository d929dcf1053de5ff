import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { DEFAULT_GRANT_TTL_SECONDS } from '../src/adapters/credentials/grant-claims.js';
import { mintGrant } from '../src/adapters/credentials/grant.js';
import { authenticated, jsonBody } from '../src/adapters/http/agent-api.js';
import { AgentAuthenticator } from '../src/adapters/http/auth/authenticate.js';
import { Router } from '../src/adapters/http/router.js';
import { ReplayGuard } from '../src/adapters/redis/replay-guard.js';
import { gateView } from '../src/app/gate-view.js';
import { deadlinesFor, STATE_OF } from '../src/app/submit-gate.js';
import type { Countersign } from '../src/countersign.js';
import { CountersignError, ErrorCode } from '../src/core/errors.js';
import { evidenceHash, sha256OfJson } from '../src/core/evidence-hash.js';
import type { Gate } from '../src/core/gate.js';
import { splitDelivery } from '../src/core/gate-request.js';
import { parseGateRequest } from '../src/core/validation.js';
import { handleAhead } from './intercept.js';

/**
 * The floor of the intake and redeem routes on this machine: each route's own work up to its
 * store — the body read within limits, authentication (HMAC and the replay guard's SET in
 * Redis), JSON, validation, the RFC 8785 evidence hash and the idempotency fingerprint, the
 * policy decision; for redeem the gate read (riding with the replay check, as the real route
 * does), the re-decision and the ES256 signature — answered as the real route answers, with
 * nothing stored: no idempotency claim, no create or redeem script, no audit link, no audit
 * copy, no timers, no statistics.
 *
 * It exists to show what share of the bare server's throughput the product could reach if
 * storing cost nothing. Mounted under /bench/floor/… by bench/app-server.ts when BENCH_FLOOR
 * is set; never part of the product.
 */
export function mountFloor(app: Countersign, redis: Redis, logger: Logger, issuer: string): void {
  const { ctx } = app;
  const auth = new AgentAuthenticator({ agents: () => app.policy.current().agents, env: process.env, replay: new ReplayGuard(redis), now: ctx.now });
  const router = new Router(logger);

  router.on('POST', '/bench/floor/gates', async (request) => {
    const { agent, rawBody } = await authenticated(auth, request);
    if (typeof request.headers['idempotency-key'] !== 'string') throw new CountersignError(ErrorCode.IdempotencyKeyMissing, 'send an Idempotency-Key header');
    const body = jsonBody(request, rawBody);
    const parsed = parseGateRequest(body, ctx.agentNetworks);
    const hash = evidenceHash(body);
    const now = ctx.now();
    sha256OfJson({ evidenceHash: hash, delivery: body.delivery ?? null });
    const { action, delivery } = splitDelivery(parsed);
    const decision = ctx.decide(action, agent.id, now);
    const id = ctx.ids.gateId(now);
    const gate: Gate = {
      id,
      agentId: agent.id,
      request: action,
      delivery,
      evidenceHash: hash,
      decision,
      createdAt: now,
      state: STATE_OF[decision.outcome],
      version: 1,
      updatedAt: now,
      votes: [],
      annotations: {},
      ...deadlinesFor(decision, delivery, now),
    };
    return { status: 201, body: gateView(gate), headers: { location: `/v1/gates/${id}` } };
  });

  router.on('POST', '/bench/floor/gates/:id/redeem', async (request) => {
    let read: ReturnType<typeof ctx.store.readForRedeem> | undefined;
    const alongside = () => (read = ctx.store.readForRedeem(request.params.id ?? ''));
    const { agent, rawBody } = await authenticated(auth, request, 'agent', { alongside });
    const body = jsonBody(request, rawBody, ['evidenceHash']);
    const { gate } = await read!;
    if (!gate || gate.agentId !== agent.id || gate.state !== 'approved' || gate.evidenceHash !== body.evidenceHash) {
      throw new CountersignError(ErrorCode.GateNotFound, `no redeemable gate ${request.params.id ?? ''}`);
    }
    const now = ctx.now();
    const current = ctx.decide(gate.request, gate.agentId, now);
    const minted = await mintGrant(gate, {
      ring: app.keyRing.ring,
      issuer,
      now,
      jti: ctx.ids.grantId(now),
      ttlSeconds: Math.min(gate.decision.grantTtlSeconds || DEFAULT_GRANT_TTL_SECONDS, current.grantTtlSeconds || DEFAULT_GRANT_TTL_SECONDS),
      approvers: [...new Set(gate.votes.filter((v) => v.vote === 'approve').map((v) => v.voter))].sort(),
    });
    return {
      status: 200,
      body: { grant: minted.token, expiresAt: new Date(minted.expiresAt).toISOString(), claims: minted.claims, gate: gateView(gate) },
      headers: { 'cache-control': 'no-store' },
    };
  });

  // Requests under /bench/floor/ go to these routes; everything else to the product's listener.
  handleAhead(app, (req) => req.url?.startsWith('/bench/floor/') === true, (req, res) => {
    void router.dispatch(req, res, 'floor').then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
}
