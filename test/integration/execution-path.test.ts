import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { call } from '../support/agent-http.js';
import { example } from '../support/gates.js';
import { verifyChain } from '../../src/core/audit-chain.js';
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

const AGENT = 'iam-agent';
const EXECUTOR = 'iam-broker';
// The security reviewer set of policies/reviewers.yaml; the policy asks two of them.
const SECURITY = [
  { id: 'U0439ZZZZG4', team: 'security' },
  { id: 'U07DMEN2KHV', team: 'security' },
];

describe('the whole path: gate → review → approvals → redeem → verify → consume → outcome', () => {
  test('one grant, verified by another JWT library against the served JWKS, used once, audited end to end', async () => {
    // Setup: a privilege-amplifying production change, which the policy sends to two security reviewers.
    const body = example('iam-attach-admin-policy');
    const gate = await createGate(t, AGENT, body);
    expect(gate.state).toBe('pending_review');
    const early = await redeem(t, AGENT, gate.id, gate.hash);
    expectProblem(early, 409, 'ERR_GATE_CONFLICT');
    expect(early.body.state).toBe('pending_review');

    // Execution: two approvals, then the redeem.
    await approveInSlack(t, gate.id, SECURITY);
    const redeemed = await redeem(t, AGENT, gate.id, gate.hash);

    // Validation: the answer carries the grant, its claims and the gate, now redeemed.
    expect(redeemed.status).toBe(200);
    expect(redeemed.headers.get('cache-control')).toBe('no-store');
    const { grant, claims, expiresAt } = redeemed.body;
    expect(redeemed.body.gate).toMatchObject({ id: gate.id, state: 'redeemed' });
    expect(claims).toMatchObject({
      iss: ISSUER,
      aud: 'iam-broker',
      sub: AGENT,
      act: { sub: 'sam.okafor@example.com' },
      gid: gate.id,
      env: 'production',
      action: 'iam.attach_role_policy',
      resources: [{ type: 'aws.iam_role', id: 'arn:aws:iam::111122223333:role/ci-deployer' }],
      permissions: ['iam:AttachRolePolicy'],
      evh: gate.hash,
      approvers: SECURITY.map((r) => r.id).sort(),
      pol: expect.stringMatching(/^sha256:/),
    });
    // The identity-and-secrets rule gives grants two minutes.
    expect(claims.exp - claims.iat).toBe(120);
    expect(Date.parse(expiresAt)).toBe(claims.exp * 1000);

    // The executor verifies it with jsonwebtoken (not jose), against the JWKS the service serves.
    const jwks = await servedJwks(t);
    const verified = verifyWithJsonwebtoken(grant, jwks, { audience: 'iam-broker' });
    expect(verified).toMatchObject({ jti: claims.jti, gid: gate.id, evh: gate.hash });

    // It consumes the grant once; the second introspection is inactive.
    const first = await introspect(t, EXECUTOR, grant);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ active: true, jti: claims.jti, aud: 'iam-broker', gid: gate.id });
    const second = await introspect(t, EXECUTOR, grant);
    expect(second.body).toEqual({ active: false, reason: 'already_used' });
    expect(t.bypass.replay).toBe(1);

    // The agent reports what the grant was used for.
    const outcome = await as(t, AGENT, 'POST', `/v1/gates/${gate.id}/outcome`, {
      json: {
        status: 'succeeded',
        summary: 'policy attached',
        calls: [{ action: 'iam.attach_role_policy', target: 'arn:aws:iam::111122223333:role/ci-deployer', method: 'AttachRolePolicy', status: 200, at: new Date().toISOString() }],
      },
    });
    expect(outcome.status).toBe(200);
    expect(outcome.body).toMatchObject({ state: 'completed', resolution: { event: 'complete', reason: 'policy attached' } });

    // The audit chain holds every link, intact: intent → votes → approval → grant → calls.
    const raw = await t.redis.lrange(`cs:{g:${gate.id}}:audit`, 0, -1);
    expect(verifyChain(raw)).toEqual([]);
    const links = raw.map((r) => JSON.parse(r) as { from: string; to: string; entry: string });
    const entries = links.map((l) => ({ from: l.from, to: l.to, ...JSON.parse(l.entry) }));
    expect(entries.map((e) => e.event)).toEqual(['create', 'vote', 'vote', 'approve', 'redeem', 'grant_consumed', 'complete']);
    expect(entries[0]).toMatchObject({ to: 'pending_review', evidenceHash: gate.hash, requester: 'sam.okafor@example.com', intent: body.context.intent });
    expect(entries[3]).toMatchObject({ from: 'pending_review', to: 'approved', approvers: SECURITY.map((r) => r.id).sort() });
    expect(entries[4]).toMatchObject({ from: 'approved', to: 'redeemed', actor: `agent:${AGENT}`, grantId: claims.jti, exp: claims.exp, evidenceHash: gate.hash, approvers: claims.approvers });
    expect(entries[4].kid).toBe(JSON.parse(Buffer.from(grant.split('.')[0], 'base64url').toString()).kid);
    // Who consumed the grant is a link of the chain, kept after the single-use marker expires.
    expect(entries[5]).toMatchObject({ from: 'redeemed', to: 'redeemed', actor: `executor:${EXECUTOR}`, grantId: claims.jti });
    expect(entries[6]).toMatchObject({ from: 'redeemed', to: 'completed', grantId: claims.jti, status: 'succeeded', calls: [{ action: 'iam.attach_role_policy', status: 200 }] });
    // Once the outcome is reported, the grant cannot be consumed (were it not already).
    expect((await introspect(t, EXECUTOR, grant)).body).toEqual({ active: false, reason: 'already_used' });

    // Observers (Slack, callbacks) heard every step.
    expect(t.changes.filter((c) => c.gate.id === gate.id).map((c) => c.event)).toEqual(['create', 'vote', 'approve', 'redeem', 'complete']);
  });
});

describe('GET /.well-known/jwks.json', () => {
  test('serves the public keys with cache headers and an ETag that turns a refetch into a 304', async () => {
    const first = await call(t.app.url, 'GET', '/.well-known/jwks.json');
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('application/jwk-set+json');
    expect(first.headers.get('cache-control')).toMatch(/max-age=\d+/);
    expect(first.body.keys.length).toBeGreaterThan(0);
    for (const key of first.body.keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: expect.any(String) });
      expect(key).not.toHaveProperty('d');
    }
    const etag = first.headers.get('etag')!;
    const again = await call(t.app.url, 'GET', '/.well-known/jwks.json', { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
    const changed = await call(t.app.url, 'GET', '/.well-known/jwks.json', { headers: { 'if-none-match': '"something-else"' } });
    expect(changed.status).toBe(200);
  });
});
