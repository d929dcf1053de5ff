import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { nonVoters } from '../../src/adapters/slack/slack-broker.js';
import type { GateRequest } from '../../src/core/gate-request.js';
import { demoUser } from '../../src/sandbox/demo-workspace.js';
import { signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';
import { approve, changeRecord, ephemeralsFor, eventually, startSlackTestApp, type SlackTestApp } from '../support/slack.js';

// Dual control through Slack: the person a gate was requested for cannot approve it under
// another name: not by the Slack id the agent sent, not through a +alias of her email.

let t: SlackTestApp;
beforeAll(async () => {
  t = await startSlackTestApp();
});
afterAll(async () => {
  await t.close();
});

async function requestGate(patch: (body: GateRequest) => void): Promise<string> {
  const body = example('terraform-apply-prod');
  patch(body);
  const answer = await signedCall(t.app.url, 'terraform-bot', t.secrets['terraform-bot']!, 'POST', '/v1/gates', { json: body });
  expect(answer.status).toBe(201);
  await eventually(() => changeRecord(t.slack, answer.body.id));
  return answer.body.id as string;
}

const refusedAsRequester = (who: string) => eventually(() => ephemeralsFor(t.slack, who).some((e) => e.includes('it was made on your behalf')), 5_000);

describe('the requester, under another name', () => {
  test('the Slack id the agent sent as the requester’s cannot approve, though the email resolves to someone else', async () => {
    // Setup: requested for ana.silva@example.com (Ana), with David's Slack id sent alongside; David reviews payments changes.
    const david = demoUser('david').id;
    const id = await requestGate((b) => {
      b.context.requester.slackUserId = david;
    });
    expect(nonVoters((await t.app.ctx.store.read(id))!).has(david)).toBe(true);
    // Execution
    await approve(t, id, 'david');
    // Validation
    await refusedAsRequester('david');
    expect((await t.app.ctx.store.read(id))!.votes).toEqual([]);
  });

  test('a requester named by a +alias of her email cannot approve as herself', async () => {
    // Setup: ana.silva+deploybot@example.com resolves to no Slack user.
    const ana = demoUser('ana').id;
    const id = await requestGate((b) => {
      b.context.requester.email = 'ana.silva+deploybot@example.com';
    });
    // Execution
    await approve(t, id, 'ana');
    // Validation
    await refusedAsRequester('ana');
    const gate = (await t.app.ctx.store.read(id))!;
    expect(gate.votes.map((v) => v.voter)).not.toContain(ana);
    expect(gate.state).toBe('pending_review');
  });
});
describe('a Slack id the agent sent, which nothing confirms', () => {
  test('is neither mentioned in the change record nor sent a DM; the record names the requester by email and shows the id as unconfirmed', async () => {
    // Setup: requested for someone Slack does not know, with Marta's Slack id sent alongside.
    const marta = demoUser('marta').id;
    const id = await requestGate((b) => {
      b.context.requester.email = 'nobody-in-slack@example.org';
      b.context.requester.slackUserId = marta;
    });
    const record = changeRecord(t.slack, id)!;
    const text = JSON.stringify(record.blocks) + record.text;
    // Validation: no ping, no DM, and reviewers see who it is really for.
    expect(text).not.toContain(`<@${marta}>`);
    expect(text).toContain('nobody-in-slack@example.org');
    expect(text).toContain(`\`${marta}\` (Slack id from the agent, unconfirmed)`);
    await new Promise((r) => setTimeout(r, 500));
    const dms = t.slack.calls.filter((c) => c.method === 'conversations.open' || (c.method === 'chat.postMessage' && String(c.params.channel).startsWith('D')));
    expect(dms.filter((c) => JSON.stringify(c.params).includes(marta) || JSON.stringify(c.params).includes(id))).toEqual([]);
    // She still cannot approve it: the id counts against her, never for her.
    expect(nonVoters((await t.app.ctx.store.read(id))!).has(marta)).toBe(true);
  });

  test('a requester Slack knows by email is mentioned and told, whatever id the agent sent', async () => {
    const ana = demoUser('ana').id;
    const id = await requestGate((b) => {
      b.context.requester.slackUserId = demoUser('marta').id;
    });
    const record = changeRecord(t.slack, id)!;
    expect(JSON.stringify(record.blocks)).toContain(`<@${ana}>`);
    expect(JSON.stringify(record.blocks)).not.toContain(`<@${demoUser('marta').id}>`);
    await t.slack.waitFor((c) => c.method === 'chat.postMessage' && c.response.ok === true && String(c.params.channel).startsWith('D') && JSON.stringify(c.params).includes(id), 5_000);
  });
});
