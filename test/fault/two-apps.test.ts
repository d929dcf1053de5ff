import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { ACTION_APPROVE } from '../../blocks/change-record.js';
import { demoUser } from '../../src/sandbox/demo-workspace.js';
import { buttonClickPayload, signedInteraction } from '../../src/sandbox/slack-interactions.js';
import { POLICIES_DIR } from '../support/app.js';
import { call, signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';
import { testRedisUrl } from '../support/redis.js';
import { changeRecord, eventually, SIGNING_SECRET } from '../support/slack.js';
import { LOOPBACK_AGENTS, shortGate, startAgentEndpoint, startJobsApp, threadOf, type AgentEndpoint, type JobsApp } from '../integration/jobs-support.js';
import { metadataOf, spawnEntry, type Child } from './fault-support.js';

const FAST = { sweepEveryMs: 500, sweepGraceMs: 300, delivery: { attempts: 8, backoffMs: 200, timeoutMs: 2_000 }, slackClaimGraceMs: 1_000 };

let producer: JobsApp;
let agent: AgentEndpoint;
const apps: Child[] = [];
let urls: string[] = [];

beforeAll(async () => {
  // The test's own instance only enqueues; the two child processes are full apps with workers.
  producer = await startJobsApp({ slack: true, env: LOOPBACK_AGENTS, background: { runWorkers: false } });
  agent = await startAgentEndpoint();
  const env = {
    ...producer.env,
    REDIS_URL: testRedisUrl(),
    PORT: '0',
    HOST: '127.0.0.1',
    COUNTERSIGN_POLICIES: POLICIES_DIR,
    LOG_LEVEL: 'silent',
    FAULT_BACKGROUND: JSON.stringify(FAST),
  };
  apps.push(...(await Promise.all([spawnEntry('child-app.ts', env), spawnEntry('child-app.ts', env)])));
  urls = apps.map((a) => a.info);
}, 50_000);
afterAll(async () => {
  await Promise.all(apps.map((a) => a.kill('SIGTERM')));
  await producer.close();
  await agent.close();
});

const slack = () => producer.slack!;
const recordPosts = (gateId: string) =>
  slack().calls.filter((c) => c.method === 'chat.postMessage' && c.status === 200 && metadataOf(c)?.event_payload?.gate_id === gateId && metadataOf(c)?.event_payload?.post_key === 'record');
const store = () => producer.app.ctx.store;

/** The same click, delivered to both apps at once (Slack retries may land on another replica). */
async function clickBoth(gateId: string, who: string) {
  const message = changeRecord(slack(), gateId)!;
  const actor = { id: demoUser(who).id, name: who };
  const payload = buttonClickPayload({ actor, actionId: ACTION_APPROVE, value: gateId, channel: message.channel, messageTs: message.ts, triggerId: slack().issueTriggerId({ user: actor.id }) });
  const { body, headers } = signedInteraction(SIGNING_SECRET, payload);
  const answers = await Promise.all(urls.map((url) => call(url, 'POST', '/slack/events', { body, headers })));
  expect(answers.map((a) => a.status)).toEqual([200, 200]);
}

describe('two app processes on one Redis', () => {
  test('the same request, clicks and deadline reach both: one gate, one post, one decision, one expiry', async () => {
    // Execution 1: one agent request with one Idempotency-Key, sent to both apps at once.
    const key = randomUUID();
    const json = { ...example('iam-attach-admin-policy'), delivery: { callbackUrl: `${agent.url}/cb` } };
    const created = await Promise.all(urls.map((url) => signedCall(url, 'iam-agent', producer.secrets['iam-agent']!, 'POST', '/v1/gates', { json, idempotencyKey: key })));
    const id = created[0]!.body.id as string;
    expect(created[1]!.body.id).toBe(id);
    await eventually(() => changeRecord(slack(), id), 5_000);

    // Execution 2: two security reviewers approve; each click reaches both apps.
    await clickBoth(id, 'grace');
    await eventually(async () => (await store().read(id))!.votes.length === 1, 5_000);
    await clickBoth(id, 'omar');
    await eventually(async () => (await store().read(id))!.state === 'approved', 5_000);

    // Execution 3: a gate whose window ends while both apps' timers and sweepers run.
    const short = await shortGate(producer, { name: 'iam-attach-admin-policy', agent: 'iam-agent', windowSeconds: 3, delivery: { callbackUrl: `${agent.url}/cb` } });
    await eventually(async () => (await store().read(short.id))!.state === 'expired', 8_000);

    // Validation: one of each.
    const approved = (await store().read(id))!;
    expect(approved.votes.map((v) => v.voter).sort()).toEqual([demoUser('grace').id, demoUser('omar').id].sort());
    for (const gateId of [id, short.id]) expect(recordPosts(gateId)).toHaveLength(1);
    expect((await store().auditTrail(id)).filter((l) => l.to === 'approved')).toHaveLength(1);
    expect((await store().auditTrail(short.id)).filter((l) => l.to === 'expired')).toHaveLength(1);
    const approvedTs = String(recordPosts(id)[0]!.response.ts);
    const expiredTs = String(recordPosts(short.id)[0]!.response.ts);
    // Thread replies are paced per channel behind the reminders and the other gate's posts.
    await eventually(() => threadOf(slack(), approvedTs).length > 0 && threadOf(slack(), expiredTs).some((m) => m.text.startsWith('Expired')), 10_000);
    await new Promise((r) => setTimeout(r, 1_500)); // room for a duplicate to show up, were there one
    expect(threadOf(slack(), approvedTs).map((m) => m.text.split(':')[0])).toEqual(['Approved']);
    const expiredThread = threadOf(slack(), expiredTs).map((m) => m.text);
    expect(expiredThread.filter((text) => !text.includes('Reminder')).map((text) => text.split(':')[0])).toEqual(['Expired']);
    expect(expiredThread.filter((text) => text.includes('Reminder')).length).toBeLessThanOrEqual(2); // 50 % and 90 %, once each
    expect(new Set(expiredThread).size).toBe(expiredThread.length);
    // Callbacks: the approval and the expiry, each under one webhook-id.
    const hooks = agent.received.map((r) => ({ id: String(r.headers['webhook-id']), body: JSON.parse(r.body) as { type: string; data: { gate: { id: string } } } }));
    expect(new Set(hooks.filter((h) => h.body.data.gate.id === id).map((h) => h.id))).toEqual(new Set([`deliver-${id}-v2`]));
    expect(new Set(hooks.filter((h) => h.body.data.gate.id === short.id).map((h) => h.body.type))).toEqual(new Set(['gate.expired']));
  });
});
