import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { DEMO_WORKSPACE } from '../../src/sandbox/demo-workspace.js';
import { startSlackWebApi, type RecordedCall, type SlackWebApiStandIn } from '../../src/sandbox/slack-web-api.js';
import type { Gate } from '../../src/core/gate.js';
import { NOTE_MESSAGE } from '../../src/adapters/slack/slack-broker.js';
import { testRedisUrl } from '../support/redis.js';
import { eventually } from '../support/slack.js';
import { LOOPBACK_AGENTS, shortGate, startAgentEndpoint, startJobsApp, threadOf, type AgentEndpoint, type JobsApp } from '../integration/jobs-support.js';
import { metadataOf, spawnEntry, startSlackProxy, type Child, type SlackProxy } from './fault-support.js';

/** Worker settings that notice a dead worker within about two seconds. */
const FAST = {
  lockDurationMs: 1_500,
  stalledIntervalMs: 500,
  slackClaimGraceMs: 1_000,
  sweepEveryMs: 500,
  sweepGraceMs: 500,
  delivery: { attempts: 8, backoffMs: 200, timeoutMs: 2_000 },
};

let slack: SlackWebApiStandIn;
let proxy: SlackProxy;
let producer: JobsApp;
let agent: AgentEndpoint;
const children: Child[] = [];

beforeAll(async () => {
  slack = await startSlackWebApi({ ...DEMO_WORKSPACE });
  // The first change-record post reaches Slack, but its answer never comes back.
  proxy = await startSlackProxy(slack, (method, call) => method === 'chat.postMessage' && metadataOf(call)?.event_payload?.post_key === 'record');
  // This process only enqueues (the API side); the child processes do the work.
  producer = await startJobsApp({ slackApiUrl: proxy.url, env: LOOPBACK_AGENTS, background: { runWorkers: false } });
  agent = await startAgentEndpoint();
});
afterAll(async () => {
  for (const c of children) await c.kill('SIGKILL');
  await producer.close();
  await proxy.close();
  await slack.close();
  await agent.close();
});

const workerEnv = () => ({ ...producer.env, REDIS_URL: testRedisUrl(), FAULT_BACKGROUND: JSON.stringify(FAST), LOG_LEVEL: 'silent' });
const recordPosts = (gateId: string) =>
  slack.calls.filter((c) => c.method === 'chat.postMessage' && c.status === 200 && metadataOf(c)?.event_payload?.gate_id === gateId && metadataOf(c)?.event_payload?.post_key === 'record');

describe('a worker killed with SIGKILL in the middle of a job', () => {
  test('after a restart every effect happens exactly once: one post, one expiry, one thread reply per gate', async () => {
    // Setup: a worker process, and three gates with four-second windows and callbacks.
    children.push(await spawnEntry('child-worker.ts', workerEnv()));
    const gates: Gate[] = [];
    for (let i = 0; i < 3; i += 1) {
      gates.push(await shortGate(producer, { name: 'iam-attach-admin-policy', agent: 'iam-agent', windowSeconds: 4, delivery: { callbackUrl: `${agent.url}/cb` } }));
    }

    // Execution: Slack accepted the first post; the worker dies before it hears back.
    const held: RecordedCall = await proxy.held;
    await children[0]!.kill('SIGKILL');
    const heldGate = metadataOf(held)!.event_payload!.gate_id!;
    children.push(await spawnEntry('child-worker.ts', workerEnv()));

    // Validation
    for (const gate of gates) {
      await eventually(async () => (await producer.app.ctx.store.read(gate.id))!.state === 'expired', 15_000);
    }
    for (const gate of gates) {
      // Posts are paced per channel and the interrupted one waits for its stale claim: wait for it.
      await eventually(() => recordPosts(gate.id).length > 0, 30_000);
      const posts = recordPosts(gate.id);
      expect(posts).toHaveLength(1);
      const stored = await eventually(async () => {
        const g = (await producer.app.ctx.store.read(gate.id))!;
        return g.annotations[NOTE_MESSAGE] ? g : undefined;
      }, 10_000);
      expect(stored.annotations[NOTE_MESSAGE]).toEqual({ channel: posts[0]!.response.channel, ts: posts[0]!.response.ts });
      const trail = await producer.app.ctx.store.auditTrail(gate.id);
      expect(trail.filter((l) => l.to === 'expired')).toHaveLength(1);
      const ts = String(posts[0]!.response.ts);
      // Thread replies take the channel's posting turns too, behind the other gates' posts and replies.
      await eventually(() => threadOf(slack, ts).some((m) => m.text.startsWith('Expired')), 10_000);
      expect(threadOf(slack, ts).filter((m) => m.text.startsWith('Expired'))).toHaveLength(1);
      // The agent heard about the expiry (at least once; a repeat carries the same webhook-id).
      await eventually(() => agent.received.some((r) => JSON.parse(r.body).data.gate.id === gate.id), 5_000);
      const ids = new Set(agent.received.filter((r) => JSON.parse(r.body).data.gate.id === gate.id).map((r) => r.headers['webhook-id']));
      expect(ids.size).toBe(1);
    }
    // The interrupted post was recognised in the channel history, not posted again.
    expect(gates.map((g) => g.id)).toContain(heldGate);
    expect(proxy.historyCalls).toBeGreaterThanOrEqual(1);
  }, 90_000);
});
