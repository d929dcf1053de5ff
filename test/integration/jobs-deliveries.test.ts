import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';
import { eventually } from '../support/slack.js';
import { LOOPBACK_AGENTS, startAgentEndpoint, startJobsApp, type AgentEndpoint, type JobsApp } from './jobs-support.js';

let t: JobsApp;
beforeAll(async () => {
  t = await startJobsApp({ env: LOOPBACK_AGENTS, background: { delivery: { attempts: 3, backoffMs: 150, timeoutMs: 2_000 } } });
});
afterAll(async () => {
  await t.close();
});

/** An agent asks through HTTP (with its callback URL) and then withdraws: one state change to deliver. */
/** countersign_job_failures_total for one queue and outcome, read from GET /metrics. */
async function jobFailures(queue: string, outcome: 'retry' | 'parked'): Promise<number> {
  const text = await (await fetch(`${t.app.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`countersign_job_failures_total{queue="${queue}",outcome="${outcome}"} `));
  if (!line) throw new Error(`no countersign_job_failures_total for ${queue}/${outcome} in /metrics`);
  return Number(line.split(' ')[1]);
}

async function requestAndCancel(agent: string, callbackUrl: string): Promise<string> {
  const created = await signedCall(t.app.url, agent, t.secrets[agent]!, 'POST', '/v1/gates', {
    json: { ...example('iam-attach-admin-policy'), delivery: { callbackUrl } },
  });
  expect(created.status).toBe(201);
  const id = created.body.id as string;
  const cancelled = await signedCall(t.app.url, agent, t.secrets[agent]!, 'POST', `/v1/gates/${id}/cancel`, { json: { reason: 'no longer needed' } });
  expect(cancelled.body.state).toBe('cancelled');
  return id;
}

describe('signed callbacks', () => {
  let endpoint: AgentEndpoint;
  const endpoints: AgentEndpoint[] = [];
  afterAll(async () => {
    await Promise.all(endpoints.map((e) => e.close()));
  });

  test('arrive signed with the agent secret and are retried after failures with the same webhook-id', async () => {
    // Setup: the agent's endpoint fails twice, then accepts.
    endpoint = await startAgentEndpoint((_req, n) => ({ status: n <= 2 ? 500 : 200 }));
    endpoints.push(endpoint);
    // Execution
    const id = await requestAndCancel('iam-agent', `${endpoint.url}/hooks/countersign`);
    // Validation
    await eventually(() => endpoint.received.length >= 3, 5_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(endpoint.received).toHaveLength(3);
    const ids = new Set(endpoint.received.map((r) => r.headers['webhook-id']));
    expect(ids.size).toBe(1);
    const backoff = endpoint.received[2]!.at - endpoint.received[1]!.at;
    expect(backoff).toBeGreaterThanOrEqual(250); // 150 ms, then 300 ms: exponential
    const wh = new Webhook(t.secrets['iam-agent']!);
    for (const r of endpoint.received) {
      const payload = wh.verify(r.body, {
        'webhook-id': String(r.headers['webhook-id']),
        'webhook-timestamp': String(r.headers['webhook-timestamp']),
        'webhook-signature': String(r.headers['webhook-signature']),
      }) as { type: string; data: { event: string; gate: { id: string; state: string } } };
      expect(payload).toMatchObject({ type: 'gate.cancelled', data: { event: 'cancel', gate: { id, state: 'cancelled' } } });
    }
    // Signed by this agent only: another agent's secret does not verify.
    expect(() =>
      new Webhook(t.secrets['deploy-bot']!).verify(endpoint.received[0]!.body, {
        'webhook-id': String(endpoint.received[0]!.headers['webhook-id']),
        'webhook-timestamp': String(endpoint.received[0]!.headers['webhook-timestamp']),
        'webhook-signature': String(endpoint.received[0]!.headers['webhook-signature']),
      }),
    ).toThrow();
  });

  test('a delivery that keeps failing is parked, listed, and can be replayed', async () => {
    // Setup: an endpoint that is down for now.
    let up = false;
    endpoint = await startAgentEndpoint(() => ({ status: up ? 204 : 503 }));
    endpoints.push(endpoint);
    const before = { retry: await jobFailures('deliveries', 'retry'), parked: await jobFailures('deliveries', 'parked') };
    const id = await requestAndCancel('iam-agent', endpoint.url);
    // Execution: three attempts, then parked.
    const parked = await eventually(async () => (await t.app.background.listParkedDeliveries()).find((p) => p.gateId === id), 5_000);
    expect(parked).toMatchObject({ event: 'cancel', attempts: 3, failedReason: 'callback answered HTTP 503' });
    expect(endpoint.received).toHaveLength(3);
    // Operators see it: two failures retried, one parked (an alert can watch the parked count).
    await eventually(async () => (await jobFailures('deliveries', 'parked')) === before.parked + 1, 2_000);
    expect(await jobFailures('deliveries', 'retry')).toBe(before.retry + 2);
    expect(await jobFailures('slack', 'parked')).toBe(0);
    // The endpoint is back; an admin replays.
    up = true;
    expect(await t.app.background.replayParkedDelivery(parked.jobId)).toBe(true);
    // Validation
    await eventually(() => endpoint.received.length === 4, 5_000);
    await eventually(async () => !(await t.app.background.listParkedDeliveries()).some((p) => p.gateId === id));
    expect(await t.app.background.replayParkedDelivery('deliver-nothing-v1')).toBe(false);
  });

  test('a replayed delivery gets a fresh set of attempts, not one', async () => {
    // Setup: an endpoint that stays down; its callback is parked after three attempts.
    const down = await startAgentEndpoint(() => ({ status: 503 }));
    endpoints.push(down);
    const id = await requestAndCancel('iam-agent', down.url);
    const parked = await eventually(async () => (await t.app.background.listParkedDeliveries()).find((p) => p.gateId === id), 5_000);
    expect(down.received).toHaveLength(3);

    // Execution: replayed while the endpoint is still down.
    expect(await t.app.background.replayParkedDelivery(parked.jobId)).toBe(true);

    // Validation: three more attempts, then parked again (with the count of this round).
    const again = await eventually(async () => (await t.app.background.listParkedDeliveries()).find((p) => p.gateId === id), 5_000);
    expect(down.received).toHaveLength(6);
    expect(again.attempts).toBe(3);
    expect(new Set(down.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
  });
});
