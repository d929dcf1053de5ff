import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { approve, changeRecord, eventually } from '../support/slack.js';
import { shortGate, startJobsApp, withSlack, type JobsApp } from './jobs-support.js';

let t: JobsApp;
beforeAll(async () => {
  t = await startJobsApp({ slack: true });
});
afterAll(async () => {
  await t.close();
});

describe('out-of-order change record updates', () => {
  test('a slow chat.update for an older revision that lands after the newer one is corrected: the record ends approved', async () => {
    const gate = await shortGate(t, { name: 'iam-attach-admin-policy', agent: 'iam-agent', windowSeconds: 120 });
    const record = await eventually(() => changeRecord(t.slack!, gate.id), 5_000);
    // Network latency: the first chat.update of this record takes 1.5 s to reach Slack.
    const slack = t.slack!;
    const original = slack.handle.bind(slack);
    let delayed = false;
    slack.handle = async (req: IncomingMessage, res: ServerResponse) => {
      if (!delayed && req.url?.endsWith('/chat.update')) {
        delayed = true;
        await new Promise((r) => setTimeout(r, 1_500));
      }
      return original(req, res);
    };
    // Grace approves (1 of 2): update job for that revision reads the gate and calls chat.update (slow).
    await approve(withSlack(t), gate.id, 'grace');
    await eventually(() => delayed, 3_000);
    // Omar approves (2 of 2): the gate is approved, its update goes out at once.
    await approve(withSlack(t), gate.id, 'omar');
    await eventually(async () => (await t.app.ctx.store.read(gate.id))!.state === 'approved', 3_000);
    await new Promise((r) => setTimeout(r, 4_000));
    const shown = t.slack!.state.findMessage(record.channel, record.ts)!;
    // The record must end showing the approved state, without the vote buttons.
    expect(JSON.stringify(shown.blocks)).not.toContain('"action_id":"gate_approve"');
    expect(shown.text.toLowerCase()).toContain('approved');
  }, 20_000);
});
