import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { cancelGate } from '../../src/app/cancel-gate.js';
import { changeRecord, eventually } from '../support/slack.js';
import { shortGate, startJobsApp, type JobsApp } from './jobs-support.js';

// Slack errors no retry can fix end the write at once, and the rest of the gate's story goes on.

let t: JobsApp;
beforeAll(async () => {
  t = await startJobsApp({ slack: true });
});
afterAll(async () => {
  await t.close();
});

const dmPost = (c: { method: string; params: Record<string, unknown>; response: { ok?: unknown } }) =>
  c.method === 'chat.postMessage' && c.response.ok === true && String(c.params.channel).startsWith('D');

describe('a change record deleted in Slack (message_not_found)', () => {
  test('is not written again and again; the requester still learns the outcome', async () => {
    const gate = await shortGate(t, { name: 'iam-attach-admin-policy', agent: 'iam-agent', windowSeconds: 120 });
    const record = await eventually(() => changeRecord(t.slack!, gate.id), 5_000);
    const dm = await t.slack!.waitFor((c) => dmPost(c) && JSON.stringify(c.params).includes(gate.id), 5_000);
    // A user deletes the change record.
    const conv = t.slack!.state.conversations.get(record.channel)!;
    conv.messages.splice(conv.messages.indexOf(record), 1);
    await cancelGate(t.app.ctx, { agent: t.app.ctx.agent('iam-agent')!, gateId: gate.id, reason: 'no longer needed' });
    await t.slack!.waitFor((c) => c.method === 'chat.update' && c.response.ok === true && c.params.channel === dm.params.channel, 8_000);
    await new Promise((r) => setTimeout(r, 2_000));
    const updates = t.slack!.calls.filter((c) => c.method === 'chat.update' && c.params.channel === record.channel && c.params.ts === record.ts);
    expect(updates.length).toBe(1);
  }, 20_000);
});
