import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { evidenceHash } from '../../src/core/evidence-hash.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { call, signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';

let t: TestApp;
const AGENT = 'demo-agent';
const OTHER = 'deploy-bot';

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.close();
});

const post = (json: unknown, options: Parameters<typeof signedCall>[5] = {}) =>
  signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'POST', '/v1/gates', { json, ...options });

function expectProblem(answer: { status: number; headers: Headers; body: any }, status: number, code?: string) {
  expect(answer.status).toBe(status);
  expect(answer.headers.get('content-type')).toBe('application/problem+json');
  expect(answer.body).toMatchObject({ status, type: expect.stringMatching(/^https:\/\/countersign\.dev\/problems\//), title: expect.any(String), detail: expect.any(String) });
  if (code) expect(answer.body.code).toBe(code);
}

describe('POST /v1/gates', () => {
  test('creates a gate and answers with its id, state and evidence hash', async () => {
    const body = example('terraform-apply-prod');
    const answer = await post(body);
    expect(answer.status).toBe(201);
    expect(answer.headers.get('location')).toBe(`/v1/gates/${answer.body.id}`);
    expect(answer.body).toMatchObject({
      id: expect.stringMatching(/^g_[0-9A-Z]{26}$/),
      state: 'pending_review',
      evidenceHash: evidenceHash(body as unknown as Record<string, unknown>),
      action: 'terraform.apply',
      environment: 'production',
    });
    expect(answer.body.decision.reasons.length).toBeGreaterThan(0);
    expect(answer.body.decision.policyVersion).toMatch(/^sha256:/);
    // The agent asked for a 30-minute window; the deadline honours it or the shorter policy window.
    const review = Date.parse(answer.body.deadlines.review) - Date.parse(answer.body.createdAt);
    expect(review).toBeLessThanOrEqual(1800_000);
    expect(review).toBeGreaterThan(0);
  });

  test('a read-only action is approved at once by policy', async () => {
    const answer = await post(example('logs-read-only'));
    expect(answer.status).toBe(201);
    expect(answer.body.state).toBe('approved');
    expect(answer.body.deadlines.execution).toEqual(expect.any(String));
  });

  describe('idempotency', () => {
    test('the same key with the same body returns the same gate', async () => {
      const key = randomUUID();
      const first = await post(example('k8s-deploy-staging'), { idempotencyKey: key });
      const second = await post(example('k8s-deploy-staging'), { idempotencyKey: key });
      expect(first.status).toBe(201);
      expect(second.status).toBe(200);
      expect(second.headers.get('idempotent-replayed')).toBe('true');
      expect(second.body.id).toBe(first.body.id);
    });

    test('the same key with a different body is 422', async () => {
      const key = randomUUID();
      await post(example('k8s-deploy-staging'), { idempotencyKey: key });
      const changed = { ...example('k8s-deploy-staging'), summary: 'something else' };
      expectProblem(await post(changed, { idempotencyKey: key }), 422, 'ERR_IDEMPOTENCY_KEY_REUSED');
    });

    test('a missing Idempotency-Key is 400', async () => {
      expectProblem(await post(example('k8s-deploy-staging'), { idempotencyKey: null }), 400, 'ERR_IDEMPOTENCY_KEY_MISSING');
    });

    test('50 concurrent POSTs with one key create exactly one gate', async () => {
      // Setup
      const key = randomUUID();
      const body = { ...example('db-drop-column-prod'), summary: `concurrency ${key}` };
      const before = (await t.redis.keys('cs:{g:*}:gate')).length;
      // Execution
      const answers = await Promise.all(Array.from({ length: 50 }, () => post(body, { idempotencyKey: key })));
      // Validation
      expect(answers.every((a) => a.status === 201 || a.status === 200)).toBe(true);
      expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
      expect(answers.filter((a) => a.status === 201).length).toBeGreaterThanOrEqual(1);
      expect((await t.redis.keys('cs:{g:*}:gate')).length).toBe(before + 1);
      const audit = await t.redis.llen(`cs:{g:${answers[0]!.body.id}}:audit`);
      expect(audit).toBe(1);
    });
  });
});

describe('GET and cancel', () => {
  test('an agent reads its own gate; another agent gets 404, as for an unknown id', async () => {
    const created = await post(example('iam-attach-admin-policy'));
    const own = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'GET', `/v1/gates/${created.body.id}`);
    expect(own.status).toBe(200);
    expect(own.body.id).toBe(created.body.id);
    const other = await signedCall(t.app.url, OTHER, t.secrets[OTHER]!, 'GET', `/v1/gates/${created.body.id}`);
    expectProblem(other, 404, 'ERR_GATE_NOT_FOUND');
    const unknown = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'GET', '/v1/gates/g_00000000000000000000000000');
    expectProblem(unknown, 404, 'ERR_GATE_NOT_FOUND');
    expect(other.body.detail.replace(created.body.id, 'X')).toBe(unknown.body.detail.replace('g_00000000000000000000000000', 'X'));
    expectProblem(await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'GET', '/v1/gates/..%2F..%2Fetc'), 404);
  });

  test('cancel withdraws a pending gate; twice is a no-op; another agent cannot', async () => {
    const created = await post(example('terraform-apply-prod'));
    const path = `/v1/gates/${created.body.id}/cancel`;
    expectProblem(await signedCall(t.app.url, OTHER, t.secrets[OTHER]!, 'POST', path), 404);
    const cancelled = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'POST', path, { json: { reason: 'superseded' } });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ state: 'cancelled', resolution: { event: 'cancel', reason: 'superseded' } });
    const again = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'POST', path);
    expect(again.status).toBe(200);
    expect(again.body.version).toBe(cancelled.body.version);
  });
});

describe('authentication failures are 401 problems', () => {
  const body = JSON.stringify(example('k8s-deploy-staging'));
  const base = () => ({ 'content-type': 'application/json', 'idempotency-key': randomUUID(), 'countersign-agent': AGENT });

  test('no credentials', async () => {
    expectProblem(await call(t.app.url, 'POST', '/v1/gates', { body, headers: { 'content-type': 'application/json', 'idempotency-key': 'k' } }), 401, 'ERR_UNAUTHENTICATED');
  });

  test('a bad signature, and a signature made with another secret', async () => {
    const good = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'GET', '/v1/gates/g_00000000000000000000000000');
    expect(good.status).toBe(404);
    const forged = await call(t.app.url, 'POST', '/v1/gates', {
      body,
      headers: { ...base(), 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' },
    });
    expectProblem(forged, 401, 'ERR_BAD_SIGNATURE');
    const otherSecret = await signedCall(t.app.url, AGENT, t.secrets[OTHER]!, 'POST', '/v1/gates', { raw: body });
    expectProblem(otherSecret, 401, 'ERR_BAD_SIGNATURE');
  });

  test('a body changed after signing', async () => {
    const answer = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'POST', '/v1/gates', { raw: body, headers: {} });
    expect(answer.status).toBe(201);
    // Re-send the same headers with one byte changed in the body.
    const { webhookHeaders } = await import('../../src/adapters/http/auth/standard-webhooks.js');
    const headers = { ...base(), ...webhookHeaders(t.secrets[AGENT]!, body) };
    expectProblem(await call(t.app.url, 'POST', '/v1/gates', { headers, body: body.replace('staging-eu', 'staging-us') }), 401, 'ERR_BAD_SIGNATURE');
  });

  test('stale and future timestamps', async () => {
    const sixMinutes = 6 * 60 * 1000;
    expectProblem(await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'POST', '/v1/gates', { raw: body, now: Date.now() - sixMinutes }), 401, 'ERR_STALE_TIMESTAMP');
    expectProblem(await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'POST', '/v1/gates', { raw: body, now: Date.now() + sixMinutes }), 401, 'ERR_STALE_TIMESTAMP');
  });

  test('a replayed webhook-id', async () => {
    const id = `msg_${randomUUID()}`;
    const first = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'GET', '/v1/gates/g_00000000000000000000000000', { webhookId: id });
    expect(first.status).toBe(404);
    const replay = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'GET', '/v1/gates/g_00000000000000000000000000', { webhookId: id });
    expectProblem(replay, 401, 'ERR_REPLAYED_MESSAGE');
  });

  test('an unknown agent', async () => {
    expectProblem(await signedCall(t.app.url, 'nobody-bot', t.secrets[AGENT]!, 'POST', '/v1/gates', { raw: body }), 401, 'ERR_UNKNOWN_AGENT');
  });
});

describe('client errors are problem+json with the right status', () => {
  test('malformed JSON is 400', async () => {
    expectProblem(await post(undefined, { raw: '{"action": "k8s.deploy",' }), 400, 'ERR_MALFORMED_JSON');
    expectProblem(await post(undefined, { raw: '[1,2,3]' }), 400, 'ERR_MALFORMED_JSON');
    expectProblem(await post(undefined, { raw: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }), 400, 'ERR_MALFORMED_JSON');
  });

  test('a body that names a member twice is 400, pointing at the repeat, and claims nothing', async () => {
    // `"action"` twice: JSON.parse keeps the last, other parsers the first (I-JSON forbids it).
    const idempotencyKey = randomUUID();
    const raw = JSON.stringify(example('k8s-deploy-staging')).replace('"summary":', '"action":"iam.change","summary":');
    const answer = await post(undefined, { raw, idempotencyKey });
    expectProblem(answer, 400, 'ERR_MALFORMED_JSON');
    expect(answer.body.errors).toEqual([{ pointer: '/action', message: 'names the member "action" more than once' }]);
    // The key is still free: the well-formed body with it creates its gate.
    const retried = await post(example('k8s-deploy-staging'), { idempotencyKey });
    expect(retried.status).toBe(201);
    expect(retried.body.action).toBe('k8s.deploy');
  });

  test('a member named __proto__ anywhere is 400: it would be hashed into the evidence yet dropped by validation, unseen by reviewers', async () => {
    // Inside resource attributes (a record), with a payload the reviewers would never see, and 20,000 levels deep (past every depth check).
    const hidden = JSON.stringify(example('k8s-deploy-staging')).replace('"id":"staging-eu/checkout"', '"id":"staging-eu/checkout","attributes":{"__proto__":{"hidden":"rm -rf /"}}');
    const hiddenAnswer = await post(undefined, { raw: hidden });
    expectProblem(hiddenAnswer, 400, 'ERR_MALFORMED_JSON');
    expect(hiddenAnswer.body.errors).toEqual([{ pointer: '/resources/0/attributes/__proto__', message: 'is named __proto__, which JavaScript objects cannot hold as plain data' }]);
    const deep = hidden.replace('{"hidden":"rm -rf /"}', `${'['.repeat(20_000)}1${']'.repeat(20_000)}`);
    expectProblem(await post(undefined, { raw: deep }), 400, 'ERR_MALFORMED_JSON');
    expectProblem(await post(undefined, { raw: JSON.stringify(example('k8s-deploy-staging')).replace('{"action"', '{"__proto__":{},"action"') }), 400, 'ERR_MALFORMED_JSON');
  });

  test('a whole number beyond 2^53 not written as it is read is 400: two bodies would share one evidence hash, and executors would read another number than reviewers saw', async () => {
    const body = JSON.stringify({ ...example('k8s-deploy-staging'), evidence: { parameters: { limit: 1 } } });
    const answer = await post(undefined, { raw: body.replace('"limit":1', '"limit":9007199254740993') });
    expectProblem(answer, 400, 'ERR_MALFORMED_JSON');
    expect(answer.body.errors).toEqual([{ pointer: '/evidence/parameters/limit', message: expect.stringContaining('is 9007199254740993, a whole number beyond 2^53 that JSON numbers (doubles) read as 9007199254740992') }]);
    // The number as a double shows it is accepted.
    expect((await post(undefined, { raw: body.replace('"limit":1', '"limit":9007199254740992') })).status).toBe(201);
  });

  test('a wrong content type is 415, and so is a charset other than UTF-8', async () => {
    expectProblem(await post(example('k8s-deploy-staging'), { headers: { 'content-type': 'text/plain' } }), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE');
    expectProblem(await post(example('k8s-deploy-staging'), { headers: { 'content-type': 'application/json; charset=latin1' } }), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE');
    expect((await post(example('k8s-deploy-staging'), { headers: { 'content-type': 'application/json; charset="UTF-8"' } })).status).toBe(201);
  });

  test('a body over 1 MiB is 413', async () => {
    const big = { ...example('k8s-deploy-staging'), evidence: { diff: 'x'.repeat(1024 * 1024 + 10) } };
    expectProblem(await post(big), 413, 'ERR_PAYLOAD_TOO_LARGE');
  });

  test('an invalid request is 422 naming the failing fields', async () => {
    const bad = { ...example('k8s-deploy-staging'), action: 'Not An Identifier', environment: 42, extra: true, delivery: { callbackUrl: 'http://evil.example.com/cb' } };
    const answer = await post(bad);
    expectProblem(answer, 422, 'ERR_INVALID_REQUEST');
    const pointers = answer.body.errors.map((e: { pointer: string }) => e.pointer);
    expect(pointers).toEqual(expect.arrayContaining(['/action', '/environment', '/extra', '/delivery/callbackUrl']));
  });

  test('agent URLs that lead to non-public addresses are refused at intake, naming the field', async () => {
    // Setup: this app runs with the default, public addresses only.
    const body = { ...example('k8s-deploy-staging'), delivery: { callbackUrl: 'https://169.254.169.254/latest/meta-data', revalidateUrl: 'http://2130706433/revalidate' } };
    // Execution
    const answer = await post(body);
    // Validation: nothing was created, and each field says why.
    expectProblem(answer, 422, 'ERR_INVALID_REQUEST');
    expect(answer.body.errors).toEqual([
      { pointer: '/delivery/callbackUrl', message: expect.stringMatching(/^must be an https URL to a public address \(COUNTERSIGN_AGENT_NETWORKS allows others\): 169\.254\.169\.254 is a link-local address/) },
      { pointer: '/delivery/revalidateUrl', message: expect.stringMatching(/^must be an https URL to a public address .*: 127\.0\.0\.1 is a loopback address/) },
    ]);
    const metadataV6 = await post({ ...example('k8s-deploy-staging'), delivery: { callbackUrl: 'https://[fd00::1]/cb' } });
    expectProblem(metadataV6, 422, 'ERR_INVALID_REQUEST');
    expect(metadataV6.body.errors).toEqual([{ pointer: '/delivery/callbackUrl', message: expect.stringContaining('fd00::1 is a private address') }]);
  });

  test('an unknown route is 404 and a wrong method 405', async () => {
    expectProblem(await call(t.app.url, 'GET', '/v2/nothing'), 404, 'ERR_ROUTE_NOT_FOUND');
    const wrong = await call(t.app.url, 'DELETE', '/v1/gates');
    expectProblem(wrong, 405, 'ERR_METHOD_NOT_ALLOWED');
    expect(wrong.headers.get('allow')).toBe('POST');
  });
});

describe('health', () => {
  test('HEAD is answered as GET, without the body; a GET route offers it in Allow', async () => {
    for (const path of ['/healthz', '/readyz', '/.well-known/jwks.json']) {
      const get = await fetch(`${t.app.url}${path}`);
      const head = await fetch(`${t.app.url}${path}`, { method: 'HEAD' });
      expect({ path, status: head.status, type: head.headers.get('content-type') }).toEqual({ path, status: get.status, type: get.headers.get('content-type') });
      expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(await get.text())));
      expect(await head.text()).toBe('');
    }
    const wrong = await call(t.app.url, 'POST', '/healthz');
    expectProblem(wrong, 405, 'ERR_METHOD_NOT_ALLOWED');
    expect(wrong.headers.get('allow')).toBe('GET, HEAD');
  });

  test('/healthz and /readyz answer 200 while Redis is reachable', async () => {
    expect((await call(t.app.url, 'GET', '/healthz')).status).toBe(200);
    const ready = await call(t.app.url, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', redis: 'ok' });
  });
});
