import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { request as httpRequest } from 'node:http';
import { demoUser, DEMO_WORKSPACE } from '../../src/sandbox/demo-workspace.js';
import { SandboxServer, type Snapshot } from '../../src/sandbox/server.js';
import { DEFAULT_TOKEN, SlackWebApiStandIn } from '../../src/sandbox/slack-web-api.js';
import { signedCall } from '../support/agent-http.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { example } from '../support/gates.js';
import { eventually } from '../support/slack.js';

/**
 * The sandbox server without a browser: the app talks to its Web API stand-in, and "act as"
 * requests reach the app as signed Slack payloads whose answers come back to the page.
 */

const SECRET = 'sandbox-test-signing-secret-0123456789';
let sandbox: SandboxServer;
let standIn: SlackWebApiStandIn;
let t: TestApp;

beforeAll(async () => {
  standIn = new SlackWebApiStandIn({ ...DEMO_WORKSPACE });
  sandbox = new SandboxServer({ standIn, signingSecret: SECRET, defaultActor: demoUser('grace').id });
  await sandbox.listen();
  t = await startTestApp({ env: { SLACK_BOT_TOKEN: DEFAULT_TOKEN, SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: sandbox.slackApiUrl } });
  sandbox.setAppUrl(t.app.url);
});
afterAll(async () => {
  await t.close();
  await sandbox.close();
});

async function act(body: Record<string, unknown>): Promise<{ status: number; body: any }> {
  const res = await fetch(`${sandbox.url}/sandbox/act`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

async function snapshot(who: string): Promise<Snapshot> {
  return (await (await fetch(`${sandbox.url}/sandbox/snapshot?as=${demoUser(who).id}`)).json()) as Snapshot;
}

const recordOf = (s: Snapshot, gateId: string) =>
  s.conversations.flatMap((c) => c.messages.map((m) => ({ channel: c.id, ...m }))).find((m) => !m.thread_ts && !m.ephemeral && JSON.stringify(m.blocks ?? []).includes(`"value":"${gateId}"`));

describe('the sandbox server', () => {
  test('serves the page with a strict content security policy', async () => {
    const res = await fetch(`${sandbox.url}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Countersign sandbox');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await fetch(`${sandbox.url}/page/../server.ts`)).status).toBe(404);
  });

  test('a click in the page is a signed block_actions payload; the app updates the record', async () => {
    // Setup
    const created = await signedCall(t.app.url, 'iam-agent', t.secrets['iam-agent']!, 'POST', '/v1/gates', { json: example('iam-attach-admin-policy') });
    const gateId = created.body.id as string;
    const record = await eventually(async () => recordOf(await snapshot('grace'), gateId));
    // Execution
    const answer = await act({ kind: 'button', as: demoUser('grace').id, channel: record.channel, ts: record.ts, actionId: 'gate_approve', blockId: 'gate_actions', value: gateId });
    // Validation
    expect(answer).toEqual({ status: 200, body: { status: 200 } });
    await eventually(async () => (await t.app.ctx.store.read(gateId))?.votes.length === 1);
    await eventually(async () => JSON.stringify(recordOf(await snapshot('grace'), gateId)?.blocks).includes('1 of 2'));
  });

  test('a refused vote is an ephemeral only the voter sees', async () => {
    const created = await signedCall(t.app.url, 'iam-agent', t.secrets['iam-agent']!, 'POST', '/v1/gates', { json: example('iam-attach-admin-policy') });
    const record = await eventually(async () => recordOf(await snapshot('kenji'), created.body.id));
    await act({ kind: 'button', as: demoUser('kenji').id, channel: record.channel, ts: record.ts, actionId: 'gate_approve', value: created.body.id });
    const mine = await eventually(async () => (await snapshot('kenji')).conversations.flatMap((c) => c.messages).find((m) => m.ephemeral && m.text.includes('not in the reviewer set')));
    expect(mine.ephemeral).toBe(true);
    expect((await snapshot('grace')).conversations.flatMap((c) => c.messages).some((m) => m.text.includes('not in the reviewer set'))).toBe(false);
  });

  test('a modal opens for the person who clicked; an empty deny reason comes back as a field error', async () => {
    const created = await signedCall(t.app.url, 'terraform-bot', t.secrets['terraform-bot']!, 'POST', '/v1/gates', { json: example('terraform-apply-prod') });
    const record = await eventually(async () => recordOf(await snapshot('elena'), created.body.id));
    await act({ kind: 'button', as: demoUser('elena').id, channel: record.channel, ts: record.ts, actionId: 'gate_deny', value: created.body.id });
    const modal = await eventually(async () => (await snapshot('elena')).modals[0]);
    expect((await snapshot('grace')).modals).toEqual([]);
    const blockId = ((modal.view.blocks as { type: string; block_id: string; element?: { action_id: string } }[]).find((b) => b.type === 'input'))!;
    const empty = await act({ kind: 'view_submission', as: demoUser('elena').id, viewId: modal.id, values: { [blockId.block_id]: { [blockId.element!.action_id]: { type: 'plain_text_input', value: null } } } });
    expect(empty.body.errors?.[blockId.block_id]).toMatch(/reason is required/);
    expect((await snapshot('elena')).modals).toHaveLength(1);
    const filled = await act({ kind: 'view_submission', as: demoUser('elena').id, viewId: modal.id, values: { [blockId.block_id]: { [blockId.element!.action_id]: { type: 'plain_text_input', value: 'not now' } } } });
    expect(filled.body).toEqual({ status: 200 });
    expect((await snapshot('elena')).modals).toEqual([]);
    await eventually(async () => (await t.app.ctx.store.read(created.body.id))?.state === 'denied');
  });

  test('a slash command is answered to the person who ran it', async () => {
    const answer = await act({ kind: 'slash', as: demoUser('grace').id, channel: 'C04DT2SYWB3', command: '/countersign', text: 'help' });
    expect(answer.body.status).toBe(200);
    const reply = (await snapshot('grace')).conversations.find((c) => c.id === 'C04DT2SYWB3')!.messages.filter((m) => m.ephemeral).at(-1);
    expect(JSON.stringify(reply)).toContain('/countersign pending');
  });

  test('refuses other hosts and cross-site posts, and people who do not exist', async () => {
    const port = new URL(sandbox.url).port;
    const foreignHost = await new Promise<number>((resolve, reject) => {
      httpRequest({ host: '127.0.0.1', port, path: '/sandbox/snapshot', headers: { host: 'evil.example:80' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(foreignHost).toBe(421);
    const crossSite = await fetch(`${sandbox.url}/sandbox/act`, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://evil.example' }, body: JSON.stringify({ kind: 'home', as: demoUser('grace').id }) });
    expect(crossSite.status).toBe(403);
    expect((await act({ kind: 'home', as: 'U0NOBODY' })).status).toBe(400);
  });
});
