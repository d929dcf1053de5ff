import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { watchNoteWrites } from '../support/redis.js';
import { approve, changeRecord, eventually } from '../support/slack.js';
import { LOOPBACK_AGENTS, shortGate, startAgentEndpoint, startJobsApp, textOf, withSlack, type AgentEndpoint, type JobsApp } from './jobs-support.js';

let t: JobsApp;
let agent: AgentEndpoint;
/** What the agent says it would run now, per gate (absent → it answers 500). */
const current = new Map<string, string>();

beforeAll(async () => {
  t = await startJobsApp({ slack: true, env: LOOPBACK_AGENTS, background: { revalidateEveryMs: 700 } });
  agent = await startAgentEndpoint((req) => {
    if (!req.path.startsWith('/revalidate')) return { status: 200 };
    const { gateId } = JSON.parse(req.body) as { gateId: string };
    const hash = current.get(gateId);
    return hash ? { status: 200, json: { evidenceHash: hash } } : { status: 500 };
  });
});
afterAll(async () => {
  await t.close();
  await agent.close();
});

const read = async (id: string) => (await t.app.ctx.store.read(id))!;
const delivery = () => ({ callbackUrl: `${agent.url}/callback`, revalidateUrl: `${agent.url}/revalidate` });
const verify = (secret: string, r: AgentEndpoint['received'][number]) =>
  new Webhook(secret).verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  });

describe('revalidation', () => {
  test('a drift found while the approval waits voids it: invalidated, Slack says what changed, agent told', async () => {
    // Setup: an approved gate whose agent still reports the reviewed hash.
    const gate = await shortGate(t, { name: 'terraform-apply-prod', agent: 'terraform-bot', windowSeconds: 60, delivery: delivery() });
    current.set(gate.id, gate.evidenceHash);
    await eventually(() => changeRecord(t.slack!, gate.id));
    await approve(withSlack(t), gate.id, 'elena');
    await eventually(async () => (await read(gate.id)).state === 'approved');
    const asked = () => agent.received.filter((r) => r.path === '/revalidate' && JSON.parse(r.body).gateId === gate.id);
    await eventually(() => asked().length >= 2, 3_000); // it keeps asking while the gate waits
    expect((await read(gate.id)).state).toBe('approved');

    // Execution: the plan changes under the approval.
    const watch = await watchNoteWrites(t.redis, gate.id);
    const drifted = `sha256:${'e'.repeat(64)}`;
    current.set(gate.id, drifted);

    // Validation: the note is written by the step that invalidates (a Slack rendering of the
    // invalidated gate in between would otherwise never show it).
    await eventually(async () => (await read(gate.id)).state === 'invalidated', 3_000);
    expect((await watch.stop()).filter((w) => w.endsWith(':slackNote'))).toEqual(['script:slackNote']);
    const trail = (await t.app.ctx.store.auditTrail(gate.id)).map((l) => JSON.parse(l.entry) as Record<string, unknown>);
    expect(trail.filter((e) => e.event === 'invalidate')).toEqual([
      expect.objectContaining({ actor: 'system:revalidation', reviewed: gate.evidenceHash, current: drifted }),
    ]);
    const record = await eventually(() => {
      const m = changeRecord(t.slack!, gate.id);
      return m && textOf(m).includes('evidence changed, approval void') ? m : undefined;
    });
    expect(textOf(record)).toContain(`approved ${gate.evidenceHash} now ${drifted}`);
    const told = await eventually(() => agent.received.find((r) => r.path === '/callback' && JSON.parse(r.body).type === 'gate.invalidated'));
    expect(verify(t.secrets['terraform-bot']!, told)).toMatchObject({ data: { event: 'invalidate', gate: { id: gate.id, state: 'invalidated' } } });
    // Every question to the agent was signed with its secret too.
    for (const r of asked()) expect(verify(t.secrets['terraform-bot']!, r)).toEqual({ gateId: gate.id, evidenceHash: gate.evidenceHash });
  });

  test('an agent that cannot answer is asked again and never counts as unchanged', async () => {
    // Setup: the agent's endpoint fails for this gate.
    const gate = await shortGate(t, { name: 'terraform-apply-prod', agent: 'terraform-bot', windowSeconds: 60, delivery: delivery() });
    // Execution
    await eventually(() => agent.received.filter((r) => r.path === '/revalidate' && JSON.parse(r.body).gateId === gate.id).length >= 3, 5_000);
    const now = await t.app.background.revalidateNow(gate.id);
    // Validation: still waiting, nothing decided on its behalf; an ask outside the schedule hears "unreachable".
    expect(now).toEqual({ kind: 'unreachable', reason: 'revalidateUrl answered HTTP 500' });
    expect((await read(gate.id)).state).toBe('pending_review');
    current.set(gate.id, gate.evidenceHash);
    expect((await t.app.background.revalidateNow(gate.id)).kind).toBe('unchanged');
  });

  test('a chain whose jobs were lost is armed again by the re-arm pass, once', async () => {
    // Setup: a waiting gate that has been asked about; then every revalidation job is lost.
    const gate = await shortGate(t, { name: 'terraform-apply-prod', agent: 'terraform-bot', windowSeconds: 60, delivery: delivery() });
    current.set(gate.id, gate.evidenceHash);
    const asked = () => agent.received.filter((r) => r.path === '/revalidate' && JSON.parse(r.body).gateId === gate.id).length;
    await eventually(() => asked() >= 1, 3_000);
    const queue = t.app.background.queues.revalidation;
    await queue.pause();
    await eventually(async () => (await queue.getActiveCount()) === 0, 3_000);
    await queue.obliterate({ force: true });
    await queue.resume();
    const before = asked();
    await new Promise((r) => setTimeout(r, 1_600)); // two slots: nobody asks now
    expect(asked()).toBe(before);
    // Execution
    const report = await t.app.background.sweeper.rearm();
    // Validation: armed again and asked again; a second pass finds every chain alive.
    expect(report.revalidations).toBeGreaterThanOrEqual(1);
    await eventually(() => asked() > before, 3_000);
    expect((await t.app.background.sweeper.rearm()).revalidations).toBe(0);
    expect((await read(gate.id)).state).toBe('pending_review');
  });
});
