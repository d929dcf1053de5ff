import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { generateKeyPair, SignJWT } from 'jose';
import { GrantErrorCode, verifyGrant } from '../../src/client/verify-grant.js';
import { watchNoteWrites } from '../support/redis.js';
import { example } from '../support/gates.js';
import {
  approveInSlack,
  as,
  createGate,
  expectProblem,
  introspect,
  ISSUER,
  redeem,
  servedJwks,
  startExecutionApp,
  verifyWithJsonwebtoken,
  type ExecutionApp,
} from './execution-fixtures.js';

let t: ExecutionApp;
beforeAll(async () => {
  t = await startExecutionApp();
});
afterAll(async () => {
  await t.close();
});
beforeEach(() => {
  t.clock.offset = 0;
  delete t.app.overrides.freezes;
});

const AGENT = 'demo-agent';
const EXECUTOR = 'observability-proxy';
const jwksUrl = () => `${t.app.url}/.well-known/jwks.json`;

/** A read-only query the policy allows at once: the gate is approved when created. */
async function approvedGate(summary = `Read checkout error logs ${randomUUID()}`) {
  const body = { ...example('logs-read-only'), summary };
  const gate = await createGate(t, AGENT, body);
  expect(gate.state).toBe('approved');
  return { ...gate, body };
}

async function issuedGrant() {
  const gate = await approvedGate();
  const answer = await redeem(t, AGENT, gate.id, gate.hash);
  expect(answer.status).toBe(200);
  return { gate, token: answer.body.grant as string, claims: answer.body.claims };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const partsOf = (token: string) => {
  const [h, p, s] = token.split('.') as [string, string, string];
  return { header: JSON.parse(Buffer.from(h, 'base64url').toString()), payload: JSON.parse(Buffer.from(p, 'base64url').toString()), h, p, s };
};

describe('grants that must be refused by every verifier', () => {
  test('a tampered payload: signature invalid for verifyGrant, jsonwebtoken and introspection; the real grant survives', async () => {
    const { token } = await issuedGrant();
    const { payload, h, s } = partsOf(token);
    const forged = `${h}.${b64({ ...payload, resources: [{ type: 'loki.stream', id: '{app=~".+"}' }] })}.${s}`;
    const jwks = await servedJwks(t);
    await expect(verifyGrant(forged, { jwksUrl: jwksUrl(), issuer: ISSUER, audience: EXECUTOR })).rejects.toMatchObject({ code: GrantErrorCode.InvalidSignature });
    expect(() => verifyWithJsonwebtoken(forged, jwks, { audience: EXECUTOR })).toThrow(/invalid signature/);
    expect((await introspect(t, EXECUTOR, forged)).body).toEqual({ active: false, reason: 'invalid_signature' });
    expect((await introspect(t, EXECUTOR, token)).body.active).toBe(true);
  });

  test('a tampered header: another typ, alg none, or HS256 keyed with the public key', async () => {
    const { token } = await issuedGrant();
    const { header, p, s } = partsOf(token);
    const jwks = await servedJwks(t);
    const retyped = `${b64({ ...header, typ: 'JWT' })}.${p}.${s}`;
    await expect(verifyGrant(retyped, { jwks, issuer: ISSUER, audience: EXECUTOR })).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_GRANT_(TYPE|INVALID_SIGNATURE)$/) });
    expect((await introspect(t, EXECUTOR, retyped)).body.active).toBe(false);
    const unsigned = `${b64({ ...header, alg: 'none' })}.${p}.`;
    await expect(verifyGrant(unsigned, { jwks, issuer: ISSUER, audience: EXECUTOR })).rejects.toMatchObject({ code: GrantErrorCode.Algorithm });
    expect((await introspect(t, EXECUTOR, unsigned)).body).toEqual({ active: false, reason: 'unsupported_algorithm' });
    const hmac = await new SignJWT(partsOf(token).payload)
      .setProtectedHeader({ ...header, alg: 'HS256' })
      .sign(new TextEncoder().encode(JSON.stringify(jwks.keys[0])));
    await expect(verifyGrant(hmac, { jwks, issuer: ISSUER, audience: EXECUTOR })).rejects.toMatchObject({ code: GrantErrorCode.Algorithm });
    expect((await introspect(t, EXECUTOR, hmac)).body).toEqual({ active: false, reason: 'unsupported_algorithm' });
  });

  test('the wrong audience: refused by the verifiers, and another executor cannot consume (or burn) it', async () => {
    const { token } = await issuedGrant();
    const jwks = await servedJwks(t);
    await expect(verifyGrant(token, { jwks, issuer: ISSUER, audience: 'deploy-runner' })).rejects.toMatchObject({ code: GrantErrorCode.Audience });
    expect(() => verifyWithJsonwebtoken(token, jwks, { audience: 'deploy-runner' })).toThrow(/audience invalid/);
    expect((await introspect(t, 'deploy-runner', token)).body).toEqual({ active: false, reason: 'wrong_audience' });
    expect((await introspect(t, EXECUTOR, token)).body).toMatchObject({ active: true, aud: EXECUTOR });
  });

  test('an expired grant: refused by the verifiers and by introspection', async () => {
    const { token, claims } = await issuedGrant();
    const jwks = await servedJwks(t);
    const after = claims.exp + 60;
    await expect(verifyGrant(token, { jwks, issuer: ISSUER, audience: EXECUTOR, now: new Date(after * 1000) })).rejects.toMatchObject({ code: GrantErrorCode.Expired });
    expect(() => verifyWithJsonwebtoken(token, jwks, { audience: EXECUTOR, clockTimestamp: after })).toThrow(/jwt expired/);
    t.clock.offset = after * 1000 - Date.now();
    expect((await introspect(t, EXECUTOR, token)).body).toEqual({ active: false, reason: 'expired' });
  });

  test('a grant signed by a key the service does not publish', async () => {
    const { token } = await issuedGrant();
    const { header, payload } = partsOf(token);
    const { privateKey } = await generateKeyPair('ES256');
    const unknownKid = await new SignJWT(payload).setProtectedHeader({ ...header, kid: 'cs-20260101-notourkey' }).sign(privateKey);
    await expect(verifyGrant(unknownKid, { jwksUrl: jwksUrl(), issuer: ISSUER, audience: EXECUTOR })).rejects.toMatchObject({ code: GrantErrorCode.UnknownKey });
    expect((await introspect(t, EXECUTOR, unknownKid)).body).toEqual({ active: false, reason: 'unknown_key' });
    // The right kid does not help a foreign key.
    const lookAlike = await new SignJWT(payload).setProtectedHeader(header).sign(privateKey);
    await expect(verifyGrant(lookAlike, { jwksUrl: jwksUrl(), issuer: ISSUER, audience: EXECUTOR })).rejects.toMatchObject({ code: GrantErrorCode.InvalidSignature });
    expect((await introspect(t, EXECUTOR, lookAlike)).body).toEqual({ active: false, reason: 'invalid_signature' });
  });
});

describe('redeem refuses', () => {
  test('evidence that drifted: 409, the gate is invalidated with what changed, observers and Slack are told', async () => {
    // Setup
    const gate = await approvedGate();
    const drifted = { ...gate.body, evidence: { parameters: { since: '24h', limit: 500000 } } };
    const { evidenceHash } = await import('../../src/core/evidence-hash.js');
    const presented = evidenceHash(drifted as unknown as Record<string, unknown>);
    // Execution, watching who writes the gate's notes
    const watch = await watchNoteWrites(t.redis, gate.id);
    const answer = await redeem(t, AGENT, gate.id, presented);
    const notesWrites = await watch.stop();
    // Validation
    expectProblem(answer, 409, 'ERR_EVIDENCE_DRIFT');
    // The note is written by the step that invalidates, never after it: a Slack rendering of the
    // invalidated gate could otherwise come in between, and the note would never be shown.
    expect(notesWrites).toEqual(['script:slackNote']);
    expect(answer.body).toMatchObject({ type: 'https://countersign.dev/problems/evidence-drift', state: 'invalidated', presentedHash: presented, approvedHash: gate.hash });
    expect(answer.body.title).toMatch(/request a new gate/);
    const stored = await t.app.ctx.store.read(gate.id);
    expect(stored).toMatchObject({ state: 'invalidated', resolution: { event: 'invalidate', actor: `agent:${AGENT}` } });
    expect(stored!.resolution!.reason).toContain(presented);
    expect(stored!.annotations.slackNote).toBe(`evidence changed, approval void: presented ${presented}, approved ${gate.hash}`);
    expect(t.changes.at(-1)).toMatchObject({ event: 'invalidate', from: 'approved', gate: { id: gate.id, state: 'invalidated' } });
    const audit = (await t.app.ctx.store.auditTrail(gate.id)).map((l) => JSON.parse(l.entry));
    expect(audit.at(-1)).toMatchObject({ event: 'invalidate', presentedHash: presented, approvedHash: gate.hash });
    // The approved hash no longer opens it either.
    const retry = await redeem(t, AGENT, gate.id, gate.hash);
    expectProblem(retry, 409, 'ERR_GATE_CONFLICT');
    expect(retry.body.state).toBe('invalidated');
  });

  test('after the execution window, even though no expiry job ran: 410, and the gate is expired', async () => {
    const gate = await approvedGate();
    const stored = await t.app.ctx.store.read(gate.id);
    t.clock.offset = stored!.executionDeadline! - Date.now() + 1;
    const answer = await redeem(t, AGENT, gate.id, gate.hash);
    expectProblem(answer, 410, 'ERR_DEADLINE_PASSED');
    expect(answer.body.state).toBe('expired');
    expect((await t.app.ctx.store.read(gate.id))!.state).toBe('expired');
    const last = (await t.app.ctx.store.auditTrail(gate.id)).at(-1)!;
    expect(last).toMatchObject({ from: 'approved', to: 'expired' });
    expectProblem(await redeem(t, AGENT, gate.id, gate.hash), 410, 'ERR_DEADLINE_PASSED');
  });

  test('100 concurrent redeems of one gate release exactly one grant; the rest are replays', async () => {
    // Setup
    const gate = await approvedGate();
    const before = t.bypass.replay ?? 0;
    // Execution
    const answers = await Promise.all(Array.from({ length: 100 }, () => redeem(t, AGENT, gate.id, gate.hash)));
    // Validation
    const granted = answers.filter((a) => a.status === 200);
    expect(granted).toHaveLength(1);
    for (const refused of answers.filter((a) => a.status !== 200)) expectProblem(refused, 409, 'ERR_GRANT_REPLAY');
    expect((t.bypass.replay ?? 0) - before).toBe(99);
    const audit = (await t.app.ctx.store.auditTrail(gate.id)).map((l) => JSON.parse(l.entry).event);
    expect(audit.filter((e) => e === 'redeem')).toHaveLength(1);
    expect((await t.app.ctx.store.read(gate.id))!.annotations.grant).toMatchObject({ jti: granted[0]!.body.claims.jti });
  });

  test('a redeem by another agent is 404, as for an unknown gate, and leaves the gate redeemable', async () => {
    const gate = await approvedGate();
    expectProblem(await redeem(t, 'deploy-bot', gate.id, gate.hash), 404, 'ERR_GATE_NOT_FOUND');
    expectProblem(await redeem(t, AGENT, 'g_00000000000000000000000000', gate.hash), 404, 'ERR_GATE_NOT_FOUND');
    expect((await redeem(t, AGENT, gate.id, gate.hash)).status).toBe(200);
  });

  test('when the current policy decides more strictly: 409 policy-tightened, and the gate stays approved', async () => {
    // Setup: a freeze on production that spares nothing, added at runtime after approval.
    const gate = await approvedGate();
    const now = Date.now();
    t.app.overrides.freezes = [
      { id: 'incident-freeze', environments: ['production'], from: new Date(now - 60_000).toISOString(), to: new Date(now + 3_600_000).toISOString(), outcome: 'reject', reason: 'incident in progress', exemptLabels: [] },
    ];
    // Execution
    const refused = await redeem(t, AGENT, gate.id, gate.hash);
    // Validation
    expectProblem(refused, 409, 'ERR_POLICY_TIGHTENED');
    expect(refused.body).toMatchObject({ state: 'approved', decided: 'allow', decidesNow: 'reject', rules: expect.arrayContaining([expect.objectContaining({ rule: 'freeze:incident-freeze' })]) });
    expect((await t.app.ctx.store.read(gate.id))!.state).toBe('approved');
    // Once the freeze is lifted, the approval still holds.
    delete t.app.overrides.freezes;
    expect((await redeem(t, AGENT, gate.id, gate.hash)).status).toBe(200);
  });

  test('a gate that is not approved: 409 with its state', async () => {
    const pending = await createGate(t, AGENT, { ...example('terraform-apply-prod'), summary: `pending ${randomUUID()}` });
    const answer = await redeem(t, AGENT, pending.id, pending.hash);
    expectProblem(answer, 409, 'ERR_GATE_CONFLICT');
    expect(answer.body.state).toBe('pending_review');
  });

  test('a redeem that reuses a webhook-id is refused as a replay and releases nothing', async () => {
    // Setup: a request of the agent's (a cancel) used a webhook-id.
    const gate = await approvedGate();
    const webhookId = `msg_${randomUUID()}`;
    const first = await as(t, AGENT, 'POST', `/v1/gates/${gate.id}/cancel`, { webhookId });
    expect(first.status).toBe(200);

    // Execution: a redeem of another approved gate with that webhook-id. The gate read goes out
    // with the replay check; the refusal must come before anything acts on it.
    const other = await approvedGate();
    const copy = await as(t, AGENT, 'POST', `/v1/gates/${other.id}/redeem`, { json: { evidenceHash: other.hash }, webhookId });

    // Validation: refused before anything happened; the gate is still approved and redeemable.
    expectProblem(copy, 401, 'ERR_REPLAYED_MESSAGE');
    expect((await t.app.ctx.store.read(other.id))!.state).toBe('approved');
    expect((await redeem(t, AGENT, other.id, other.hash)).status).toBe(200);
  });

  test('a malformed evidence hash is 422 and does not touch the gate', async () => {
    const gate = await approvedGate();
    const answer = await redeem(t, AGENT, gate.id, gate.hash.toUpperCase());
    expectProblem(answer, 422, 'ERR_INVALID_REQUEST');
    expect(answer.body.errors).toEqual([expect.objectContaining({ pointer: '/evidenceHash' })]);
    expect((await t.app.ctx.store.read(gate.id))!.state).toBe('approved');
  });
});

describe('the audit chain of a redeem', () => {
  test('stays verifiable when the tail the caller hashed over is stale: the script hashes the link itself', async () => {
    const { verifyChain } = await import('../../src/core/audit-chain.js');
    const gate = await approvedGate();
    const seen = (await t.app.ctx.store.read(gate.id))!;
    const now = Date.now();
    const outcome = await t.app.ctx.store.redeem(gate.id, {
      now,
      actor: `agent:${AGENT}`,
      presentedHash: gate.hash,
      approvedHash: gate.hash,
      seen,
      auditTail: { hash: 'f'.repeat(64), seq: 7 },
      grant: { token: 'header.payload.signature', jti: 'gr_fallback_link', exp: Math.floor(now / 1000) + 60, note: { jti: 'gr_fallback_link' } },
      audit: { redeem: { event: 'redeem', actor: `agent:${AGENT}`, at: now, grantId: 'gr_fallback_link' }, invalidate: { event: 'invalidate', actor: 'x', at: now }, redeliver: { event: 'grant_redelivered', actor: 'x', at: now } },
    });
    expect(outcome.kind).toBe('redeemed');
    const raw = await t.redis.lrange(`cs:{g:${gate.id}}:audit`, 0, -1);
    expect(raw).toHaveLength(2);
    expect(verifyChain(raw)).toEqual([]);
  });
});

describe('a redeem retried after its answer was lost', () => {
  test('the same Idempotency-Key gets the same grant once more; then, or with another key, it is a replay', async () => {
    const gate = await approvedGate();
    const key = randomUUID();
    const first = await redeem(t, AGENT, gate.id, gate.hash, { 'idempotency-key': key });
    expect(first.status).toBe(200);
    const retried = await redeem(t, AGENT, gate.id, gate.hash, { 'idempotency-key': key });
    expect(retried.status).toBe(200);
    expect(retried.headers.get('idempotent-replayed')).toBe('true');
    expect(retried.body.grant).toBe(first.body.grant);
    expect(retried.body.claims).toEqual(first.body.claims);
    expectProblem(await redeem(t, AGENT, gate.id, gate.hash, { 'idempotency-key': key }), 409, 'ERR_GRANT_REPLAY');
    expectProblem(await redeem(t, AGENT, gate.id, gate.hash, { 'idempotency-key': randomUUID() }), 409, 'ERR_GRANT_REPLAY');
    // Either copy is the same grant: consumed once.
    expect((await introspect(t, EXECUTOR, retried.body.grant)).body.active).toBe(true);
    expect((await introspect(t, EXECUTOR, first.body.grant)).body).toEqual({ active: false, reason: 'already_used' });
  });

  test('a retry after the grant expired is a replay: nothing is handed out', async () => {
    const gate = await approvedGate();
    const key = randomUUID();
    const first = await redeem(t, AGENT, gate.id, gate.hash, { 'idempotency-key': key });
    t.clock.offset = first.body.claims.exp * 1000 - Date.now() + 1;
    expectProblem(await redeem(t, AGENT, gate.id, gate.hash, { 'idempotency-key': key }), 409, 'ERR_GRANT_REPLAY');
  });
});

describe('POST /v1/gates/:id/outcome', () => {
  test('only after the redeem, only by the owner, validated; once recorded, the same report is a no-op and another a conflict', async () => {
    const gate = await approvedGate();
    const path = `/v1/gates/${gate.id}/outcome`;
    const report = { status: 'failed', summary: 'proxy timed out', calls: [{ action: 'logs.query', target: 'loki', status: 'timeout' }] };
    const early = await as(t, AGENT, 'POST', path, { json: report });
    expectProblem(early, 409, 'ERR_GATE_CONFLICT');
    expect(early.body.state).toBe('approved');
    await redeem(t, AGENT, gate.id, gate.hash);
    expectProblem(await as(t, 'deploy-bot', 'POST', path, { json: report }), 404, 'ERR_GATE_NOT_FOUND');
    const invalid = await as(t, AGENT, 'POST', path, { json: { status: 'done', calls: [{ verb: 'GET' }] } });
    expectProblem(invalid, 422, 'ERR_INVALID_REQUEST');
    expect(invalid.body.errors.map((e: { pointer: string }) => e.pointer)).toEqual(expect.arrayContaining(['/status', '/calls/0/verb']));
    const tooMany = await as(t, AGENT, 'POST', path, { json: { status: 'failed', calls: Array.from({ length: 51 }, () => ({ action: 'logs.query' })) } });
    expectProblem(tooMany, 422, 'ERR_INVALID_REQUEST');

    const recorded = await as(t, AGENT, 'POST', path, { json: report });
    expect(recorded.status).toBe(200);
    expect(recorded.body).toMatchObject({ state: 'failed', resolution: { event: 'fail', reason: 'proxy timed out' } });
    const again = await as(t, AGENT, 'POST', path, { json: report });
    expect(again.status).toBe(200);
    expect(again.body.version).toBe(recorded.body.version);
    const other = await as(t, AGENT, 'POST', path, { json: { status: 'succeeded', calls: [] } });
    expectProblem(other, 409, 'ERR_GATE_CONFLICT');
    expect(other.body.state).toBe('failed');
    const audit = (await t.app.ctx.store.auditTrail(gate.id)).map((l) => JSON.parse(l.entry));
    expect(audit.filter((e) => e.event === 'fail')).toEqual([expect.objectContaining({ calls: report.calls, summary: report.summary })]);
  });

  test('a grant not consumed before the outcome was reported cannot be consumed after it', async () => {
    const gate = await approvedGate();
    const { grant } = (await redeem(t, AGENT, gate.id, gate.hash)).body;
    expect((await as(t, AGENT, 'POST', `/v1/gates/${gate.id}/outcome`, { json: { status: 'succeeded', calls: [] } })).body.state).toBe('completed');
    expect((await introspect(t, EXECUTOR, grant)).body).toEqual({ active: false, reason: 'gate_closed' });
    expect((await introspect(t, EXECUTOR, grant)).body).toEqual({ active: false, reason: 'gate_closed' });
    const events = (await t.app.ctx.store.auditTrail(gate.id)).map((l) => JSON.parse(l.entry).event);
    expect(events).not.toContain('grant_consumed');
  });
});

describe('introspection is for registered executors', () => {
  test('an agent, or nobody, cannot introspect', async () => {
    const { token } = await issuedGrant();
    expectProblem(await as(t, AGENT, 'POST', '/v1/grants/introspect', { json: { token } }), 401, 'ERR_UNAUTHENTICATED');
    const { call } = await import('../support/agent-http.js');
    const anonymous = await call(t.app.url, 'POST', '/v1/grants/introspect', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    expectProblem(anonymous, 401, 'ERR_UNAUTHENTICATED');
    expectProblem(await introspect(t, EXECUTOR, ''), 422, 'ERR_INVALID_REQUEST');
    // None of that used the grant up.
    expect((await introspect(t, EXECUTOR, token)).body.active).toBe(true);
  });

  test('the form encoding RFC 7662 specifies is accepted as well as JSON', async () => {
    const { token, claims } = await issuedGrant();
    const form = (raw: string) => as(t, EXECUTOR, 'POST', '/v1/grants/introspect', { raw, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expectProblem(await form(`token=${token}&scope=all`), 422, 'ERR_INVALID_REQUEST');
    expectProblem(await form(`token=${token}&token=${token}`), 422, 'ERR_INVALID_REQUEST');
    expectProblem(await form('token_type_hint=access_token'), 422, 'ERR_INVALID_REQUEST');
    const first = await form(new URLSearchParams({ token, token_type_hint: 'access_token' }).toString());
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ active: true, jti: claims.jti });
    expect((await form(`token=${token}`)).body).toEqual({ active: false, reason: 'already_used' });
  });
});
