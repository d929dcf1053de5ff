import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { castVote } from '../../src/app/cast-vote.js';
import { evidenceHash } from '../../src/core/evidence-hash.js';
import { call, signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';
import { eventually } from '../support/slack.js';
import { LOOPBACK_AGENTS, startAgentEndpoint, startJobsApp, type AgentEndpoint, type JobsApp, type Received } from './jobs-support.js';

// Countersign signs what it sends an agent (revalidation requests, callbacks) with the agent's
// own secret, the one that also signs the agent's requests, and a signature covers only
// id.timestamp.body (not the method, path or direction). Whoever sees one outgoing message (the
// endpoint's operator, a webhook relay, a log pipeline) must not be able to send it back as the
// agent's request: its webhook-id gives it away, and a body of another shape is refused anyway.
const AGENT = 'iam-agent';
const SECURITY = [
  { id: 'U0439ZZZZG4', team: 'security' },
  { id: 'U07DMEN2KHV', team: 'security' },
];
let t: JobsApp;
let endpoint: AgentEndpoint;
beforeAll(async () => {
  endpoint = await startAgentEndpoint((r) => ({ status: 200, json: r.path === '/revalidate' ? { evidenceHash: JSON.parse(r.body).evidenceHash } : {} }));
  t = await startJobsApp({ env: LOOPBACK_AGENTS });
});
afterAll(async () => {
  await t.close();
  await endpoint.close();
});

async function approve(id: string) {
  await t.app.ctx.store.setReviewers(id, new Map(SECURITY.map((r) => [r.id, r.team])));
  for (const r of SECURITY) await castVote(t.app.ctx, { gateId: id, voter: { id: r.id, email: `${r.id.toLowerCase()}@example.com` }, vote: 'approve' });
}

/** Replays a message Countersign sent, unchanged, to Countersign as the agent. */
function reflect(m: Received, method: string, path: string) {
  return call(t.app.url, method, path, { headers: reflectedHeaders(m), body: m.body });
}

function reflectedHeaders(m: Received): Record<string, string> {
  return {
    'countersign-agent': AGENT,
    'content-type': 'application/json',
    'webhook-id': String(m.headers['webhook-id']),
    'webhook-timestamp': String(m.headers['webhook-timestamp']),
    'webhook-signature': String(m.headers['webhook-signature']),
  };
}

test('a captured revalidation request sent back to redeem is refused; the agent still gets its grant', async () => {
  const body = { ...example('iam-attach-admin-policy'), summary: `reflect ${randomUUID()}`, delivery: { revalidateUrl: `${endpoint.url}/revalidate` } };
  const created = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'POST', '/v1/gates', { json: body });
  expect(created.status).toBe(201);
  const id = created.body.id as string;
  await approve(id);
  // Countersign asks the agent's revalidateUrl: {"gateId": id, "evidenceHash": <approved hash>}, signed with the agent secret.
  const probe = await eventually(() => endpoint.received.find((r) => r.path === '/revalidate' && JSON.parse(r.body).gateId === id), 10_000);

  const stolen = await reflect(probe!, 'POST', `/v1/gates/${id}/redeem`);
  expect(stolen.status).toBe(401);
  expect(stolen.headers.get('content-type')).toContain('application/problem+json');
  expect(stolen.body.detail).toContain('sent to the agent');
  // The same body under an id of the agent's own is not a redeem body either.
  const reshaped = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'POST', `/v1/gates/${id}/redeem`, { json: JSON.parse(probe!.body) });
  expect(reshaped.status).toBe(422);
  expect(reshaped.body.errors).toEqual([{ pointer: '/gateId', message: 'is not a member of this body' }]);
  // The agent's own redeem still gets the one grant.
  const own = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'POST', `/v1/gates/${id}/redeem`, { json: { evidenceHash: evidenceHash(body) } });
  expect(own.status).toBe(200);
});

test("a captured callback sent back to cancel or read another of the agent's gates is refused", async () => {
  const withCallback = { ...example('iam-attach-admin-policy'), summary: `cb ${randomUUID()}`, delivery: { callbackUrl: `${endpoint.url}/callback` } };
  const a = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'POST', '/v1/gates', { json: withCallback });
  const b = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'POST', '/v1/gates', { json: { ...example('iam-attach-admin-policy'), summary: `victim ${randomUUID()}` } });
  await approve(a.body.id);
  await approve(b.body.id);
  const callback = await eventually(() => endpoint.received.find((r) => r.path === '/callback' && JSON.parse(r.body).data.gate.id === a.body.id), 10_000);

  const cancelled = await reflect(callback!, 'POST', `/v1/gates/${b.body.id}/cancel`);
  expect({ status: cancelled.status, state: (await t.app.ctx.store.read(b.body.id))!.state }).toEqual({ status: 401, state: 'approved' });
  // A GET with the callback as its body (fetch sends no body with GET; node:http does).
  const read = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(`${t.app.url}/v1/gates/${b.body.id}`, { method: 'GET', headers: { ...reflectedHeaders(callback!), 'content-length': String(Buffer.byteLength(callback!.body)) } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(callback!.body);
  });
  expect(read).toBe(401);
  const reshaped = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'POST', `/v1/gates/${b.body.id}/cancel`, { json: JSON.parse(callback!.body) });
  expect(reshaped.status).toBe(422);
  expect((await t.app.ctx.store.read(b.body.id))!.state).toBe('approved');
});
