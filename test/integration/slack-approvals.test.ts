import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { DENY_REASON_BLOCK } from '../../blocks/deny-modal.js';
import { validateMessage, validateView } from '../../blocks/limits.js';
import { demoUser } from '../../src/sandbox/demo-workspace.js';
import { buttonClickPayload } from '../../src/sandbox/slack-interactions.js';
import { signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';
import { approve, changeRecord, click, deny, ephemeralsFor, eventually, sendInteraction, startSlackTestApp, viewEvidence, type SlackTestApp } from '../support/slack.js';

let t: SlackTestApp;
beforeAll(async () => {
  t = await startSlackTestApp();
});
afterAll(async () => {
  await t.close();
});

/** An agent asks for an example action; returns the gate id once its change record is posted. */
async function requestGate(name: string, agent: string, patch: Record<string, unknown> = {}): Promise<string> {
  const answer = await signedCall(t.app.url, agent, t.secrets[agent]!, 'POST', '/v1/gates', { json: { ...example(name), ...patch } });
  expect(answer.status).toBe(201);
  expect(answer.body.state).toBe('pending_review');
  await eventually(() => changeRecord(t.slack, answer.body.id));
  return answer.body.id as string;
}

const gate = (id: string) => t.app.ctx.store.read(id).then((g) => g!);

describe('the change record', () => {
  test('is posted to the reviewer set channel, mentioning its group, within Slack limits', async () => {
    const id = await requestGate('terraform-apply-prod', 'terraform-bot');
    const message = changeRecord(t.slack, id)!;
    expect(message.channel).toBe('C06VW53EFR4'); // service-owners
    expect(validateMessage({ text: message.text, blocks: message.blocks })).toBeUndefined();
    const text = JSON.stringify(message.blocks);
    expect(text).toContain('<!subteam^S07DHODZDOC>');
    expect(text).toContain('terraform.apply');
    expect(text).toContain((await gate(id)).evidenceHash);
    expect(message.text.length).toBeGreaterThan(0);
    // The requester (ana.silva@example.com) is told in a direct message.
    const ana = demoUser('ana').id;
    const toldAna = () => [...t.slack.state.conversations.values()].find((c) => c.isIm && c.user === ana)?.messages.some((m) => JSON.stringify(m.blocks).includes(id));
    expect(await eventually(toldAna)).toBe(true);
  });
});

describe('dual control through the real receiver', () => {
  test('two distinct reviewers approve a dual-control gate; the message ends with no buttons and a thread reply', async () => {
    // Setup: the IAM example needs two security reviewers.
    const id = await requestGate('iam-attach-admin-policy', 'iam-agent');
    // Execution
    expect((await approve(t, id, 'grace')).status).toBe(200);
    await eventually(async () => (await gate(id)).votes.length === 1);
    expect((await gate(id)).state).toBe('pending_review');
    const afterOne = changeRecord(t.slack, id)!;
    expect(JSON.stringify(afterOne.blocks)).toContain('gate_approve');
    expect((await approve(t, id, 'omar')).status).toBe(200);
    // Validation
    await eventually(async () => (await gate(id)).state === 'approved');
    expect((await gate(id)).resolution).toMatchObject({ event: 'approve', approvers: [demoUser('grace').id, demoUser('omar').id].sort() });
    await eventually(() => {
      const m = changeRecord(t.slack, id);
      return m && !JSON.stringify(m.blocks).includes('"actions"') ? m : undefined;
    });
    const ts = changeRecord(t.slack, id)!.ts;
    await eventually(() => [...t.slack.state.conversations.values()].flatMap((c) => c.messages).some((m) => m.thread_ts === ts));
    const thread = [...t.slack.state.conversations.values()].flatMap((c) => c.messages).filter((m) => m.thread_ts === ts);
    expect(thread.length).toBe(1);
  });

  test('the requester cannot approve their own request, and is told why', async () => {
    // ana.silva requests; she is also a payments owner, so she is in the reviewer set.
    const id = await requestGate('terraform-apply-prod', 'terraform-bot');
    await approve(t, id, 'ana');
    const told = await eventually(() => ephemeralsFor(t.slack, 'ana').find((text) => text.includes('on your behalf')));
    expect(told).toMatch(/cannot review/);
    expect((await gate(id)).state).toBe('pending_review');
    expect((await gate(id)).votes).toHaveLength(0);
  });

  test('someone outside the reviewer set is refused', async () => {
    const id = await requestGate('iam-attach-admin-policy', 'iam-agent');
    await approve(t, id, 'kenji'); // SRE, not security
    await eventually(() => ephemeralsFor(t.slack, 'kenji').find((text) => text.includes('not in the reviewer set')));
    expect((await gate(id)).votes).toHaveLength(0);
  });

  test('a double click counts once', async () => {
    const id = await requestGate('iam-attach-admin-policy', 'iam-agent');
    await Promise.all([approve(t, id, 'nina'), approve(t, id, 'nina')]);
    await eventually(() => ephemeralsFor(t.slack, 'nina').find((text) => text.includes('already voted')));
    const g = await gate(id);
    expect(g.votes).toHaveLength(1);
    expect(g.state).toBe('pending_review');
  });

  test('20 concurrent approvals with quorum 2 → exactly one transition and one final message', async () => {
    // Setup: widen the reviewer set of one gate to 20 people.
    const id = await requestGate('iam-attach-admin-policy', 'iam-agent');
    const people = Array.from({ length: 20 }, (_, i) => `U0CONC${String(i).padStart(4, '0')}`);
    for (const p of people) t.slack.state.addUser({ id: p, name: p.toLowerCase(), email: `${p.toLowerCase()}@example.com` });
    await t.app.ctx.store.setReviewers(id, new Map(people.map((p) => [p, 'security'])));
    const updatesBefore = t.slack.calls.filter((c) => c.method === 'chat.update' && c.params.ts === changeRecord(t.slack, id)!.ts).length;
    // Execution
    const answers = await Promise.all(people.map((p) => click(t, id, p)));
    // Validation
    expect(answers.every((a) => a.status === 200)).toBe(true);
    await eventually(async () => (await gate(id)).state === 'approved');
    const ts0 = changeRecord(t.slack, id)!.ts;
    // Slack writes are paced per channel: wait for the thread reply, then long enough for a duplicate to show.
    await eventually(() => [...t.slack.state.conversations.values()].flatMap((c) => c.messages).some((m) => m.thread_ts === ts0), 10_000);
    await new Promise((r) => setTimeout(r, 2_500));
    const trail = await t.app.ctx.store.auditTrail(id);
    expect(trail.filter((l) => l.to === 'approved')).toHaveLength(1);
    expect((await gate(id)).votes).toHaveLength(2);
    const ts = changeRecord(t.slack, id)!.ts;
    const threadReplies = [...t.slack.state.conversations.values()].flatMap((c) => c.messages).filter((m) => m.thread_ts === ts);
    expect(threadReplies).toHaveLength(1);
    const finalUpdates = t.slack.calls.filter((c) => c.method === 'chat.update' && c.params.ts === ts).slice(updatesBefore);
    expect(finalUpdates.filter((c) => !JSON.stringify(c.params.blocks).includes('"actions"')).length).toBeGreaterThanOrEqual(1);
    // Everyone else is told, privately, that votes had closed.
    await eventually(() => people.filter((p) => ephemeralsFor(t.slack, p).some((e) => /votes are closed/.test(e))).length === 18, 10_000);
  }, 30_000);

  test('a deny needs a reason, and the reason reaches the agent', async () => {
    const id = await requestGate('iam-attach-admin-policy', 'iam-agent');
    const empty = await deny(t, id, 'grace', '   ');
    expect(empty.status).toBe(200);
    expect(empty.body).toMatchObject({ response_action: 'errors' });
    expect((await gate(id)).state).toBe('pending_review');
    // Longer than the modal allows (a client that ignores max_length): refused the same way.
    const long = await deny(t, id, 'grace', 'x'.repeat(500_000));
    expect(long.body).toMatchObject({ response_action: 'errors', errors: { [DENY_REASON_BLOCK]: expect.stringContaining('2000') } });
    expect((await gate(id)).votes).toEqual([]);
    await deny(t, id, 'omar', 'Scope it to the rotation secrets only');
    await eventually(async () => (await gate(id)).state === 'denied');
    const seen = await signedCall(t.app.url, 'iam-agent', t.secrets['iam-agent']!, 'GET', `/v1/gates/${id}`);
    expect(seen.body).toMatchObject({ state: 'denied', resolution: { reason: 'Scope it to the rotation secrets only' } });
  });

  test('a click after the review window is refused', async () => {
    const id = await requestGate('iam-attach-admin-policy', 'iam-agent', { delivery: { reviewWindowSeconds: 60 } });
    // Move the gate's deadline into the past, as if a minute had gone by and no timer ran.
    await t.redis.hset(`cs:{g:${id}}:gate`, 'reviewDeadline', String(Date.now() - 1));
    await approve(t, id, 'grace');
    await eventually(() => ephemeralsFor(t.slack, 'grace').find((text) => text.includes('review window has ended')));
    expect((await gate(id)).state).toBe('expired');
  });
});

describe('signatures', () => {
  test('a forged or stale Slack signature is refused and changes nothing', async () => {
    const id = await requestGate('iam-attach-admin-policy', 'iam-agent');
    const forged = await click(t, id, 'grace', 'gate_approve', { secret: 'not-the-signing-secret' });
    expect(forged.status).toBe(401);
    const stale = await click(t, id, 'grace', 'gate_approve', { timestamp: Math.floor(Date.now() / 1000) - 600 });
    expect(stale.status).toBe(401);
    await new Promise((r) => setTimeout(r, 100));
    expect((await gate(id)).votes).toHaveLength(0);
  });
});

describe('evidence', () => {
  test('the evidence modal for a 200 KB diff stays within limits and pages', async () => {
    const diff = Array.from({ length: 4000 }, (_, i) => `+ line ${i}: ${'x'.repeat(40)}`).join('\n');
    expect(diff.length).toBeGreaterThan(200_000);
    const id = await requestGate('terraform-apply-prod', 'terraform-bot', { evidence: { ...example('terraform-apply-prod').evidence, diff } });
    expect(validateMessage({ text: changeRecord(t.slack, id)!.text, blocks: changeRecord(t.slack, id)!.blocks })).toBeUndefined();
    await viewEvidence(t, id, 'elena');
    const opened = await t.slack.waitFor((c) => c.method === 'views.open' && JSON.stringify(c.params.view).includes(id));
    expect(opened.response.ok).toBe(true);
    const view = opened.params.view as Parameters<typeof validateView>[0];
    expect(validateView(view)).toBeUndefined();
    expect(JSON.stringify(view)).toContain('gate_evidence_next');
  });

  test('an interaction naming an unknown gate gets an explanation, not an error', async () => {
    const payload = buttonClickPayload({ actor: { id: demoUser('grace').id }, actionId: 'gate_approve', value: 'g_00000000000000000000000000', channel: 'C04DT2SYWB3', messageTs: '1.000001', triggerId: t.slack.issueTriggerId() });
    expect((await sendInteraction(t, payload)).status).toBe(200);
    await eventually(() => ephemeralsFor(t.slack, 'grace').find((text) => text.includes('no longer exists')));
  });
});
