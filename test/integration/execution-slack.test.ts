import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { evidenceHash } from '../../src/core/evidence-hash.js';
import { signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';
import { approve, changeRecord, eventually, startSlackTestApp, type SlackTestApp } from '../support/slack.js';

let t: SlackTestApp;
beforeAll(async () => {
  t = await startSlackTestApp();
});
afterAll(async () => {
  await t.close();
});

const AGENT = 'iam-agent';
const gate = (id: string) => t.app.ctx.store.read(id).then((g) => g!);
// Slack writes go through the paced per-channel queue: allow for its spacing on a busy machine.
const SLACK_WAIT_MS = 10_000;

describe('evidence drift after approval, seen from Slack', () => {
  test('the change record says the approval is void and what changed', async () => {
    // Setup: a dual-control gate, approved by two security reviewers through the real receiver.
    const body = example('iam-attach-admin-policy');
    const created = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'POST', '/v1/gates', { json: body });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await eventually(() => changeRecord(t.slack, id), SLACK_WAIT_MS);
    expect((await approve(t, id, 'grace')).status).toBe(200);
    await eventually(async () => (await gate(id)).votes.length === 1, SLACK_WAIT_MS);
    expect((await approve(t, id, 'omar')).status).toBe(200);
    await eventually(async () => (await gate(id)).state === 'approved', SLACK_WAIT_MS);

    // Execution: the agent is about to run a different policy document than the one approved.
    const drifted = { ...body, evidence: { parameters: { policyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] } } } };
    const presented = evidenceHash(drifted as unknown as Record<string, unknown>);
    const answer = await signedCall(t.app.url, AGENT, t.secrets[AGENT]!, 'POST', `/v1/gates/${id}/redeem`, { json: { evidenceHash: presented } });

    // Validation: 409 for the agent; the reviewers' message shows the void approval and both hashes.
    expect(answer.status).toBe(409);
    expect(answer.body.code).toBe('ERR_EVIDENCE_DRIFT');
    expect((await gate(id)).state).toBe('invalidated');
    const record = await eventually(() => {
      const message = changeRecord(t.slack, id);
      const text = JSON.stringify(message?.blocks ?? []);
      return text.includes('evidence changed, approval void') ? text : undefined;
    }, SLACK_WAIT_MS);
    expect(record).toContain(presented);
    expect(record).toContain(created.body.evidenceHash);
    expect(record).not.toContain('gate_approve');
  });
});
