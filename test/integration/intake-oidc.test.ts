import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { POLICIES_DIR, startTestApp, type TestApp } from '../support/app.js';
import { call } from '../support/agent-http.js';
import { example } from '../support/gates.js';
import { startTestIssuer, type TestIssuer } from '../support/oidc-issuer.js';

const SUBJECT = 'repo:acme/checkout:ref:refs/heads/main';
let t: TestApp;
let issuer: TestIssuer;
let dir: string;

beforeAll(async () => {
  // Setup: the default policies plus one agent that authenticates with its workload identity.
  issuer = await startTestIssuer();
  dir = mkdtempSync(join(tmpdir(), 'countersign-policies-'));
  cpSync(POLICIES_DIR, dir, { recursive: true });
  writeFileSync(
    join(dir, 'oidc-agents.yaml'),
    [
      'agents:',
      '  - id: ci-checkout',
      '    owner: U05M75WBBR4',
      `    auth: { method: oidc, issuer: "${issuer.issuer}", jwksUri: "${issuer.jwksUri}", audience: countersign, subject: "^repo:acme/checkout:ref:refs/heads/main$", algorithms: [ES256] }`,
      '    actions: [k8s.deploy]',
      // An issuer whose key endpoint is down (the test issuer answers 404 there).
      '  - id: ci-issuer-down',
      '    owner: U05M75WBBR4',
      `    auth: { method: oidc, issuer: "${issuer.issuer}/down", jwksUri: "${issuer.issuer}/down/jwks", audience: countersign, subject: "^repo:acme/checkout:ref:refs/heads/main$", algorithms: [ES256] }`,
      '    actions: [k8s.deploy]',
      '',
    ].join('\n'),
  );
  t = await startTestApp({ policies: dir });
});
afterAll(async () => {
  await t.close();
  await issuer.close();
  rmSync(dir, { recursive: true, force: true });
});

const submit = (token: string) =>
  call(t.app.url, 'POST', '/v1/gates', {
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: JSON.stringify(example('k8s-deploy-staging')),
  });

describe('OIDC bearer tokens', () => {
  test('a valid workload token creates a gate for the registered agent', async () => {
    const answer = await submit(await issuer.token({ sub: SUBJECT, aud: 'countersign' }));
    expect(answer.status).toBe(201);
    expect(answer.body.agentId).toBe('ci-checkout');
  });

  test.each([
    ['a wrong audience', { sub: SUBJECT, aud: 'someone-else' }, 'ERR_INVALID_TOKEN'],
    ['a wrong issuer', { sub: SUBJECT, aud: 'countersign', iss: 'https://evil.example.com' }, 'ERR_UNKNOWN_AGENT'],
    ['an expired token', { sub: SUBJECT, aud: 'countersign', expiresIn: -120 }, 'ERR_INVALID_TOKEN'],
    ['a token not valid yet', { sub: SUBJECT, aud: 'countersign', notBefore: 600 }, 'ERR_INVALID_TOKEN'],
    ['a subject that does not match', { sub: 'repo:acme/checkout:ref:refs/heads/feature', aud: 'countersign' }, 'ERR_UNKNOWN_AGENT'],
  ])('%s is 401', async (_what, claims, code) => {
    const answer = await submit(await issuer.token(claims));
    expect(answer.status).toBe(401);
    expect(answer.headers.get('content-type')).toBe('application/problem+json');
    expect(answer.body.code).toBe(code);
  });

  test('a tampered token is 401', async () => {
    const token = await issuer.token({ sub: SUBJECT, aud: 'countersign' });
    const [h, p, s] = token.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    payload.sub = 'repo:acme/checkout:ref:refs/heads/main';
    payload.aud = 'countersign';
    payload.exp += 3600;
    const forged = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    expect((await submit(forged)).status).toBe(401);
  });

  test("an issuer whose keys cannot be fetched is a retryable 503, not a bad token, and creates nothing", async () => {
    const gates = async () => (await t.redis.keys('cs:{g:*}:gate')).length;
    const before = await gates();
    const answer = await submit(await issuer.token({ sub: SUBJECT, aud: 'countersign', iss: `${issuer.issuer}/down` }));
    expect(answer.status).toBe(503);
    expect(answer.headers.get('content-type')).toBe('application/problem+json');
    expect(answer.headers.get('retry-after')).not.toBeNull();
    expect(answer.body).toMatchObject({ type: 'https://countersign.dev/problems/issuer-unavailable', code: 'ERR_ISSUER_UNAVAILABLE' });
    expect(await gates()).toBe(before);
  });
});
