import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateWebhookSecret, webhookHeaders } from '../src/adapters/http/auth/standard-webhooks.js';
import { startPrivateRedis } from '../src/adapters/redis/private-redis.js';
import { DEMO_WORKSPACE, demoUser } from '../src/sandbox/demo-workspace.js';
import { buttonClickPayload, signedInteraction } from '../src/sandbox/slack-interactions.js';
import { DEFAULT_TOKEN, startSlackWebApi } from '../src/sandbox/slack-web-api.js';
import { startApp } from './child.js';
import { runLoad, type PreparedRequest } from './load.js';
import type { BenchResult } from './types.js';

const RATE = 100;
const SECONDS = 15;
const SIGNING_SECRET = 'bench-signing-secret-0123456789';
const REVIEWERS = ['grace', 'omar', 'nina'];

/**
 * Click-to-ack latency: Approve clicks arrive at 100 per second through the HTTP receiver
 * (signed, form-encoded, as Slack sends them); the latency is until Bolt's ack answer. The
 * votes themselves run after the ack, as in production.
 */
export async function benchClicks(): Promise<BenchResult> {
  const redis = await startPrivateRedis();
  const slack = await startSlackWebApi({ ...DEMO_WORKSPACE });
  const secret = generateWebhookSecret();
  const app = await startApp({
    REDIS_URL: redis.url,
    COUNTERSIGN_AGENT_IAM_AGENT_SECRET: secret,
    SLACK_BOT_TOKEN: DEFAULT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.url,
  });
  try {
    // Setup: pending dual-control gates (two security reviewers each).
    const body = JSON.parse(readFileSync(join(import.meta.dirname, '../examples/iam-attach-admin-policy.json'), 'utf8')) as Record<string, unknown>;
    const gates: string[] = [];
    for (let i = 0; i < (RATE * SECONDS) / 2 + 50; i += 1) {
      const raw = JSON.stringify({ ...body, summary: `Attach SecretsRotation policy, batch ${i}` });
      const res = await fetch(`http://127.0.0.1:${app.port}/v1/gates`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), 'countersign-agent': 'iam-agent', ...webhookHeaders(secret, raw) },
        body: raw,
      });
      const gate = (await res.json()) as { id: string; state: string };
      if (gate.state !== 'pending_review') throw new Error(`expected a pending gate, got ${gate.state}`);
      gates.push(gate.id);
    }
    // Each gate gets two different reviewers' clicks; some land after the quorum (refused politely).
    const prepared: PreparedRequest[] = [];
    for (let i = 0; i < RATE * SECONDS + 200; i += 1) {
      const gateId = gates[Math.floor(i / 2) % gates.length]!;
      const who = demoUser(REVIEWERS[i % REVIEWERS.length]!);
      const payload = buttonClickPayload({ actor: { id: who.id, name: who.name }, actionId: 'gate_approve', value: gateId, channel: 'C04DT2SYWB3', messageTs: '1.000001', triggerId: `${i}.${Date.now()}` });
      const { body: form, headers } = signedInteraction(SIGNING_SECRET, payload);
      prepared.push({ method: 'POST', path: '/slack/events', body: form, headers: { ...headers, 'content-length': String(Buffer.byteLength(form)) } });
    }
    let next = 0;
    await runLoad({ port: app.port, connections: 20, seconds: 2, next: () => prepared[next++], rate: RATE });
    const result = await runLoad({ port: app.port, connections: 50, seconds: SECONDS, next: () => prepared[next++], rate: RATE });
    const lines = [
      `${result.requests} clicks at ${RATE}/s over ${SECONDS} s (open loop, 50 connections): p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, max ${result.maxMs.toFixed(1)} ms (target p99 ≤ 50 ms)`,
      `statuses ${JSON.stringify(result.statuses)}, errors ${result.errors}`,
    ];
    return { name: 'clicks', lines, figures: { rate: RATE, p50Ms: result.p50Ms, p99Ms: result.p99Ms, maxMs: result.maxMs, clicks: result.requests } };
  } finally {
    await app.stop();
    await slack.close();
    await redis.stop();
  }
}
