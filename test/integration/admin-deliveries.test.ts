import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { validateMessage } from '../../blocks/limits.js';
import { AUDIT_KEYS } from '../../src/adapters/audit/keys.js';
import { signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';
import { eventually } from '../support/slack.js';
import { ADMIN_GROUP, command } from './admin-support.js';
import { LOOPBACK_AGENTS, startAgentEndpoint, startJobsApp, withSlack, type AgentEndpoint, type JobsApp } from './jobs-support.js';

// Callbacks that ran out of attempts are parked; admins see them and send them again from Slack.

let t: JobsApp;
let endpoint: AgentEndpoint;
let up = false;
beforeAll(async () => {
  t = await startJobsApp({ slack: true, env: { ...LOOPBACK_AGENTS, COUNTERSIGN_ADMIN_GROUP: ADMIN_GROUP }, background: { delivery: { attempts: 2, backoffMs: 100, timeoutMs: 2_000 } } });
  endpoint = await startAgentEndpoint(() => ({ status: up ? 204 : 503 }));
});
afterAll(async () => {
  await endpoint.close();
  await t.close();
});

/** An agent asks (with its callback URL) and withdraws: one state change to deliver. */
async function requestAndCancel(): Promise<string> {
  const secret = t.secrets['iam-agent']!;
  const created = await signedCall(t.app.url, 'iam-agent', secret, 'POST', '/v1/gates', { json: { ...example('iam-attach-admin-policy'), delivery: { callbackUrl: `${endpoint.url}/hooks/<countersign>` } } });
  expect(created.status).toBe(201);
  const id = created.body.id as string;
  await signedCall(t.app.url, 'iam-agent', secret, 'POST', `/v1/gates/${id}/cancel`, { json: { reason: 'no longer needed' } });
  return id;
}

const adminRecords = async () =>
  (await t.redis.lrange(AUDIT_KEYS.log, 0, -1)).map((r) => JSON.parse(r)).filter((r) => r.kind === 'admin').map((r) => JSON.parse(r.entry));

describe('/countersign deliveries', () => {
  test('lists parked callbacks to admins only, and replays one gate\'s on request', async () => {
    const none = await command(withSlack(t), 'marta', 'deliveries');
    expect(none.text).toContain('No agent callback is parked');

    const first = await requestAndCancel();
    const second = await requestAndCancel();
    await eventually(async () => (await t.app.background.listParkedDeliveries()).length === 2, 8_000);
    expect(endpoint.received).toHaveLength(4);

    // Execution: an admin lists them.
    const listed = await command(withSlack(t), 'marta', 'deliveries');
    expect(listed.body.response_type).toBe('ephemeral');
    expect(validateMessage(listed.body)).toBeUndefined();
    expect(listed.text).toContain('2 agent callbacks are parked');
    for (const id of [first, second]) expect(listed.text).toContain(id);
    expect(listed.text).toContain('iam-agent');
    expect(listed.text).toContain('callback answered HTTP 503');
    // The agent's URL is shown as text, never as Slack markup.
    expect(listed.text).toContain('/hooks/&lt;countersign&gt;');
    expect(listed.text).toContain(`/countersign deliveries replay ${second}`); // the newest, as an example

    // Someone who is not an admin sees nothing of them.
    const refused = await command(withSlack(t), 'grace', 'deliveries');
    expect(refused.text).toContain('for Countersign admins');
    expect(refused.text).not.toContain(first);
    expect((await command(withSlack(t), 'grace', `deliveries replay ${first}`)).text).toContain('for Countersign admins');

    // The endpoint is back; the admin replays the first gate's callback only.
    up = true;
    const replayed = await command(withSlack(t), 'marta', `deliveries replay ${first.toLowerCase()}`);
    expect(replayed.text).toContain(`Sent again: 1 parked callback of \`${first}\``);
    await eventually(() => endpoint.received.length === 5, 5_000);
    const parked = await eventually(async () => {
      const left = await t.app.background.listParkedDeliveries();
      return left.length === 1 && left;
    }, 5_000);
    expect(parked[0]!.gateId).toBe(second);
    expect((await adminRecords()).at(-1)).toMatchObject({ command: 'deliveries replay', args: { gateId: first }, result: 'replayed 1' });

    // A gate with nothing parked says so, and is not audited as a replay.
    const nothing = await command(withSlack(t), 'marta', `deliveries replay ${first}`);
    expect(nothing.text).toContain(`No parked callback of \`${first}\``);
    expect((await command(withSlack(t), 'marta', 'deliveries replay nonsense')).text).toContain('is not a gate id');
  }, 30_000);
});
