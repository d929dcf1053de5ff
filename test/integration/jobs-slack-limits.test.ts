import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { RecordedCall } from '../../src/sandbox/slack-web-api.js';
import { changeRecord, eventually } from '../support/slack.js';
import { shortGate, startJobsApp, type JobsApp } from './jobs-support.js';

let t: JobsApp;
beforeAll(async () => {
  t = await startJobsApp({ slack: true });
});
afterAll(async () => {
  await t.close();
});

const SERVICE_OWNERS = 'C06VW53EFR4';
const SECURITY = 'C04DT2SYWB3';

/** The accepted chat.postMessage that posted a gate's change record. */
const recordPost = (gateId: string) => (c: RecordedCall) =>
  c.method === 'chat.postMessage' &&
  c.status === 200 &&
  (c.params.metadata as { event_payload?: Record<string, string> } | undefined)?.event_payload?.gate_id === gateId &&
  !c.params.thread_ts &&
  String(c.params.channel).startsWith('C');

describe('Slack writes through the queue', () => {
  test("a 429 with Retry-After on one channel delays only that channel's writes", async () => {
    // Setup: Slack refuses the next post to the service owners' channel for 2 s.
    t.slack!.rateLimit({ method: 'chat.postMessage', channel: SERVICE_OWNERS, retryAfterSeconds: 2 });
    // Execution: one gate for each channel.
    const held = await shortGate(t, { name: 'terraform-apply-prod', agent: 'terraform-bot', windowSeconds: 60 });
    const free = await shortGate(t, { name: 'iam-attach-admin-policy', agent: 'iam-agent', windowSeconds: 60 });
    // Validation
    const refused = await t.slack!.waitFor((c) => c.status === 429 && c.params.channel === SERVICE_OWNERS, 3_000);
    const freePost = await t.slack!.waitFor(recordPost(free.id), 3_000);
    const heldPost = await t.slack!.waitFor(recordPost(held.id), 5_000);
    expect(freePost.at - refused.at).toBeLessThan(1_000); // the other channel did not wait
    expect(heldPost.at - refused.at).toBeGreaterThanOrEqual(2_000); // Retry-After honoured
    expect(heldPost.at - refused.at).toBeLessThan(3_500);
    expect(t.slack!.calls.filter((c) => c.status === 429)).toHaveLength(1); // waited, did not hammer
    expect(changeRecord(t.slack!, held.id)?.channel).toBe(SERVICE_OWNERS);
  });

  test('posts to one channel are paced about one per second, and each gate is posted once', async () => {
    // Setup: the security channel is quiet.
    await new Promise((r) => setTimeout(r, 1_100));
    // Execution: three gates for the security channel at once.
    const gates = await Promise.all([0, 1, 2].map(() => shortGate(t, { name: 'iam-attach-admin-policy', agent: 'iam-agent', windowSeconds: 60 })));
    // Validation
    const posts = await Promise.all(gates.map((g) => t.slack!.waitFor(recordPost(g.id), 5_000)));
    const times = posts.map((p) => p.at).sort((a, b) => a - b);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(900);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(900);
    for (const g of gates) expect(t.slack!.calls.filter(recordPost(g.id))).toHaveLength(1);
    expect(posts.every((p) => p.params.channel === SECURITY)).toBe(true);
    await eventually(() => gates.every((g) => changeRecord(t.slack!, g.id)));
  });
});
