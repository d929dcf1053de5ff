import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ACTION_APPROVE } from '../../blocks/change-record.js';
import { buttonClickPayload, signedSlashCommand, slackSignature } from '../../src/sandbox/slack-interactions.js';
import { call } from '../support/agent-http.js';
import { sendInteraction, SIGNING_SECRET, startSlackTestApp, type SlackTestApp } from '../support/slack.js';

// Requests to /slack/events that carry a valid Slack signature but a shape Slack does not send
// (only someone holding the signing secret can make them) get a clear 400, never a 500 or a hang.

let t: SlackTestApp;
beforeAll(async () => {
  t = await startSlackTestApp();
});
afterAll(async () => {
  await t.close();
});

const click = () => buttonClickPayload({ actor: { id: 'U0439ZZZZG4' }, actionId: ACTION_APPROVE, value: 'g_missing', channel: 'C07KVJ50CE9', messageTs: '1.2', triggerId: 't.1' });
const without = (key: string) => {
  const p = click();
  delete p[key];
  return p;
};

describe('/slack/events with a valid signature and a malformed body', () => {
  test.each([
    ['an interaction without user', without('user'), 'names no user'],
    ['an interaction whose user is null', { ...click(), user: null }, 'names no user'],
    ['block_actions without actions', without('actions'), 'needs actions'],
    ['block_actions whose actions are not a list', { ...click(), actions: 'approve' }, 'needs actions'],
    ['a view_submission without its view', { type: 'view_submission', user: { id: 'U0439ZZZZG4' }, team: { id: 'T1' } }, 'needs the view'],
    ['a payload that is a string', 'hello', 'is an object with a type'],
    ['a payload that is null', null, 'is an object with a type'],
  ])('%s → 400 problem+json, at once', async (_name, payload, detail) => {
    const answer = await sendInteraction(t, payload);
    expect(answer.status).toBe(400);
    expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(answer.body).toMatchObject({ code: 'ERR_SLACK_PAYLOAD_INVALID', status: 400 });
    expect(answer.body.detail).toContain(detail);
  });

  test('a JSON body that is not an Events API object, and a form with neither payload nor command → 400', async () => {
    for (const [body, type] of [
      ['[1,2]', 'application/json'],
      ['{"type":"event_callback"}', 'application/json'],
      ['text=hello', 'application/x-www-form-urlencoded'],
    ] as const) {
      const answer = await call(t.app.url, 'POST', '/slack/events', { body, headers: { 'content-type': type, ...slackSignature(SIGNING_SECRET, body) } });
      expect([body, answer.status]).toEqual([body, 400]);
    }
  });

  test('the same malformed body without a valid signature is refused as unsigned (401), as before', async () => {
    const answer = await sendInteraction(t, without('user'), { secret: 'not-the-signing-secret-0123456789' });
    expect(answer.status).toBe(401);
  });

  test('a body over 1 MiB → 413 problem+json, unread past the limit', async () => {
    const body = `payload=${'x'.repeat(1024 * 1024 + 10)}`;
    const answer = await call(t.app.url, 'POST', '/slack/events', { body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...slackSignature(SIGNING_SECRET, body) } });
    expect(answer.status).toBe(413);
    expect(answer.body).toMatchObject({ code: 'ERR_PAYLOAD_TOO_LARGE' });
  });

  test('well-formed requests still reach Bolt: a click on an unknown gate and a slash command are acknowledged', async () => {
    expect((await sendInteraction(t, click())).status).toBe(200);
    const { body, headers } = signedSlashCommand(SIGNING_SECRET, { command: '/countersign', text: 'help', user_id: 'U0439ZZZZG4', channel_id: 'C07KVJ50CE9', team_id: 'T1', trigger_id: 't.2', response_url: 'https://hooks.slack.com/commands/1' });
    expect((await call(t.app.url, 'POST', '/slack/events', { body, headers })).status).toBe(200);
  });
});
