import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { submitGate } from '../../src/app/submit-gate.js';
import { AgentNetworks } from '../../src/core/agent-networks.js';
import type { Delivery } from '../../src/core/gate-request.js';
import { signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';
import { eventually } from '../support/slack.js';
import { startAgentEndpoint, startJobsApp, type AgentEndpoint, type JobsApp } from './jobs-support.js';

/**
 * Agent URLs are checked again when they are called: a gate stored while the setting was wider
 * (or a name that now resolves elsewhere) is refused at connect time, for good, with a log line.
 */

const logs: Array<Record<string, unknown>> = [];
let t: JobsApp;
let endpoint: AgentEndpoint;

beforeAll(async () => {
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  // The default setting: public addresses only.
  t = await startJobsApp({ logger, background: { delivery: { attempts: 3, backoffMs: 100, timeoutMs: 2_000 }, revalidateEveryMs: 500 } });
  endpoint = await startAgentEndpoint();
});
afterAll(async () => {
  await t.close();
  await endpoint.close();
});

/** A gate accepted while loopback was allowed: the app itself would refuse these URLs at intake now. */
async function gateStoredEarlier(name: string, agent: string, delivery: Delivery) {
  const ctx = { ...t.app.ctx, agentNetworks: AgentNetworks.publicAndLoopback };
  const body = { ...example(name), delivery } as Record<string, unknown>;
  const { gate } = await submitGate(ctx, { agent: ctx.agent(agent)!, body, idempotencyKey: randomUUID() });
  return gate;
}

describe('agent URLs refused when called', () => {
  test('a callback to a name that resolves to loopback is parked after one attempt, and the log names host and address', async () => {
    // Setup
    const port = new URL(endpoint.url).port;
    const gate = await gateStoredEarlier('iam-attach-admin-policy', 'iam-agent', { callbackUrl: `http://localhost:${port}/cb` });

    // Execution: a state change to deliver.
    const cancelled = await signedCall(t.app.url, 'iam-agent', t.secrets['iam-agent']!, 'POST', `/v1/gates/${gate.id}/cancel`, { json: {} });
    expect(cancelled.body.state).toBe('cancelled');

    // Validation: parked at once (not retried), nothing reached the endpoint.
    const parked = await eventually(async () => (await t.app.background.listParkedDeliveries()).find((p) => p.gateId === gate.id), 5_000);
    expect(parked.attempts).toBe(1);
    expect(parked.failedReason).toMatch(/^callback refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address, which COUNTERSIGN_AGENT_NETWORKS does not allow$/);
    expect(endpoint.received).toHaveLength(0);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 40, event: 'callback_refused', gateId: gate.id, host: 'localhost', address: expect.stringMatching(/^(127\.0\.0\.1|::1)$/), category: 'loopback' }),
    );
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'job failed for good', gateId: gate.id, parked: true, attempt: 1 }));
  });

  test('a revalidateUrl on a loopback address fails its slot without retries and is never read as unchanged', async () => {
    // Setup: a gate that waits for reviewers, with a revalidation URL.
    const gate = await gateStoredEarlier('terraform-apply-prod', 'terraform-bot', { revalidateUrl: `${endpoint.url}/revalidate` });
    expect(gate.state).toBe('pending_review');

    // Execution: the scheduled slot runs.
    const logged = await eventually(() => logs.find((l) => l.event === 'revalidation_refused' && l.gateId === gate.id), 5_000);

    // Validation
    expect(logged).toMatchObject({ level: 40, host: '127.0.0.1', address: '127.0.0.1', category: 'loopback' });
    const failed = (await t.app.background.queues.revalidation.getFailed()).find((j) => j.data.gateId === gate.id)!;
    expect(failed.attemptsMade).toBe(1);
    const reason = 'revalidateUrl refused: 127.0.0.1 is a loopback address, which COUNTERSIGN_AGENT_NETWORKS does not allow';
    expect(failed.failedReason).toBe(reason);
    expect(await t.app.background.revalidateNow(gate.id)).toEqual({ kind: 'unreachable', reason });
    expect(endpoint.received).toHaveLength(0);
    expect((await t.app.ctx.store.read(gate.id))!.state).toBe('pending_review');
  });
});
