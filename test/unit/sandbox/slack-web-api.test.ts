import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { ErrorCode, LogLevel, WebClient } from '@slack/web-api';
import { renderChangeRecord } from '../../../blocks/change-record.js';
import { DEFAULT_TOKEN, startSlackWebApi, TRIGGER_TTL_MS, type SlackWebApiStandIn } from '../../../src/sandbox/slack-web-api.js';
import { decisionFor, exampleRequest, pendingGate, progressOf } from '../blocks/fixtures.js';

let clock = Date.UTC(2026, 10, 20, 14, 0, 0);
let api: SlackWebApiStandIn;
let slack: WebClient;

/** The client logs Slack's `[ERROR]` response messages; the tests assert them instead. */
const quiet = { debug() {}, info() {}, warn() {}, error() {}, setLevel() {}, getLevel: () => LogLevel.ERROR, setName() {} };
const client = (token?: string) => new WebClient(token, { slackApiUrl: api.url, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logger: quiet });

/** The Slack error code a call failed with (WebAPIPlatformError keeps Slack's answer in `data`). */
async function slackError(call: Promise<unknown>): Promise<{ error?: string; response_metadata?: { messages?: string[] } }> {
  try {
    await call;
  } catch (err) {
    return (err as { data?: { error?: string } }).data ?? { error: `not a platform error: ${String(err)}` };
  }
  throw new Error('the call succeeded');
}

const changeRecord = () => {
  const gate = pendingGate(exampleRequest('terraform-apply-prod'), decisionFor('terraform-apply-prod'));
  return renderChangeRecord(gate, { now: clock, quorumProgress: progressOf(gate), reviewerMention: '<!subteam^S0PLATFORM>' });
};

beforeAll(async () => {
  api = await startSlackWebApi({
    now: () => clock,
    users: [
      { id: 'U0ANA', name: 'ana', realName: 'Ana Silva', email: 'ana.silva@example.com', team: 'payments' },
      { id: 'U0BEN', name: 'ben', email: 'ben@example.com', team: 'platform' },
      { id: 'U0CY', name: 'cy', email: 'cy@example.com', team: 'security' },
    ],
    usergroups: [{ id: 'S0PLATFORM', handle: 'platform-oncall', members: ['U0BEN', 'U0CY'] }],
    channels: [
      { id: 'C0APPROVALS', name: 'approvals' },
      { id: 'C0SECURITY', name: 'security', members: ['U0CY'] },
    ],
  });
  slack = client(DEFAULT_TOKEN);
});

afterAll(async () => {
  await api.close();
});

beforeEach(() => api.reset());

describe('Slack Web API stand-in driven by the real @slack/web-api client', () => {
  test('answers auth.test and records the call with its token and encoding', async () => {
    const result = await slack.auth.test();
    expect(result).toMatchObject({ ok: true, user_id: 'U0COUNTERSIGN', bot_id: 'B0COUNTERSIGN', team_id: 'T0SANDBOX' });
    expect(api.calls).toHaveLength(1);
    expect(api.calls[0]).toMatchObject({ method: 'auth.test', token: DEFAULT_TOKEN, contentType: 'application/x-www-form-urlencoded', status: 200 });
  });

  test('posts a change record, decodes its form-encoded blocks, and updates it in place', async () => {
    // Setup
    const record = changeRecord();

    // Execution
    const posted = await slack.chat.postMessage({ channel: '#approvals', ...record });
    const updated = await slack.chat.update({ channel: posted.channel!, ts: posted.ts!, text: 'Approved', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*Approved*' } }] });

    // Validation
    expect(posted).toMatchObject({ ok: true, channel: 'C0APPROVALS', ts: '1795183200.000000' });
    expect(api.calls[0]?.params.blocks).toEqual(record.blocks);
    expect(updated).toMatchObject({ ok: true, ts: posted.ts, text: 'Approved' });
    const [message] = api.state.messages('C0APPROVALS');
    expect(message).toMatchObject({ ts: posted.ts, text: 'Approved', user: 'U0COUNTERSIGN', blocks: [{ type: 'section' }] });
    expect(message?.edited).toBeDefined();
  });

  test('keeps thread replies with their parent and gives permalinks', async () => {
    const parent = await slack.chat.postMessage({ channel: 'C0APPROVALS', text: 'parent' });
    const reply = await slack.chat.postMessage({ channel: 'C0APPROVALS', text: 'Approved by Ben', thread_ts: parent.ts! });
    const link = await slack.chat.getPermalink({ channel: 'C0APPROVALS', message_ts: reply.ts! });
    expect(api.state.findMessage('C0APPROVALS', reply.ts!)).toMatchObject({ thread_ts: parent.ts });
    expect(api.state.findMessage('C0APPROVALS', parent.ts!)?.reply_count).toBe(1);
    expect(link.permalink).toBe(`https://countersign-sandbox.slack.local/archives/C0APPROVALS/p${reply.ts!.replace('.', '')}?thread_ts=${parent.ts}&cid=C0APPROVALS`);
  });

  test('serves channel and thread history with message metadata, in pages, as Slack does', async () => {
    // Setup: a fresh channel, three top-level posts (one with metadata) and a reply.
    const ch = 'C0HISTORY';
    api.state.addChannel({ id: ch, name: 'history' });
    const meta = { event_type: 'countersign_gate', event_payload: { gate_id: 'g_1', post_key: 'record' } };
    const first = await slack.chat.postMessage({ channel: ch, text: 'first' });
    clock += 1_000;
    const second = await slack.chat.postMessage({ channel: ch, text: 'second', metadata: meta });
    await slack.chat.postMessage({ channel: ch, text: 'a reply', thread_ts: second.ts! });
    clock += 1_000;
    await slack.chat.postMessage({ channel: ch, text: 'third' });
    // Execution and validation: newest first, no replies, metadata only when asked for.
    const all = await slack.conversations.history({ channel: ch, include_all_metadata: true });
    expect(all.messages!.map((m) => m.text)).toEqual(['third', 'second', 'first']);
    expect(all.messages![1]!.metadata).toEqual(meta);
    const plain = await slack.conversations.history({ channel: ch });
    expect(plain.messages![1]!.metadata).toBeUndefined();
    // `oldest` with `inclusive`, and `limit` with a cursor.
    const since = await slack.conversations.history({ channel: ch, oldest: second.ts!, inclusive: true });
    expect(since.messages!.map((m) => m.text)).toEqual(['third', 'second']);
    const after = await slack.conversations.history({ channel: ch, oldest: second.ts! });
    expect(after.messages!.map((m) => m.text)).toEqual(['third']);
    const one = await slack.conversations.history({ channel: ch, limit: 2 });
    expect(one).toMatchObject({ has_more: true });
    const rest = await slack.conversations.history({ channel: ch, limit: 2, cursor: one.response_metadata!.next_cursor! });
    expect(rest.messages!.map((m) => m.text)).toEqual(['first']);
    expect(rest.response_metadata?.next_cursor).toBe('');
    // A thread: its parent, then its replies.
    const thread = await slack.conversations.replies({ channel: ch, ts: second.ts!, include_all_metadata: true });
    expect(thread.messages!.map((m) => m.text)).toEqual(['second', 'a reply']);
    expect(await slackError(slack.conversations.replies({ channel: ch, ts: first.ts!.replace(/\d$/, '9') }))).toMatchObject({ error: 'thread_not_found' });
    expect(await slackError(slack.chat.postMessage({ channel: ch, text: 'x', metadata: { event_type: 'x' } as never }))).toMatchObject({ error: 'invalid_metadata_format' });
    expect(await slackError(slack.conversations.history({ channel: ch, oldest: 'soon' }))).toMatchObject({ error: 'invalid_ts_oldest' });
    expect(await slackError(slack.conversations.history({ channel: ch, cursor: 'not-a-cursor' }))).toMatchObject({ error: 'invalid_cursor' });
  });

  test('opens one direct message conversation per user', async () => {
    const first = await slack.conversations.open({ users: 'U0ANA' });
    const again = await slack.conversations.open({ users: 'U0ANA' });
    await slack.chat.postMessage({ channel: first.channel!.id!, text: 'your request is waiting' });
    await slack.chat.postMessage({ channel: 'U0ANA', text: 'it was approved' });
    expect(first.channel?.id).toMatch(/^D/);
    expect(again).toMatchObject({ already_open: true, channel: { id: first.channel?.id } });
    expect(api.state.messages(first.channel!.id!).map((m) => m.text)).toEqual(['your request is waiting', 'it was approved']);
  });

  test('records ephemerals for their user only where the user is a member', async () => {
    await slack.chat.postEphemeral({ channel: 'C0APPROVALS', user: 'U0ANA', text: 'You cannot approve your own request.' });
    expect(api.state.ephemerals).toEqual([expect.objectContaining({ channel: 'C0APPROVALS', user: 'U0ANA', text: 'You cannot approve your own request.' })]);
    expect((await slackError(slack.chat.postEphemeral({ channel: 'C0SECURITY', user: 'U0ANA', text: 'x' }))).error).toBe('user_not_in_channel');
  });

  test('resolves people and user groups', async () => {
    expect((await slack.users.lookupByEmail({ email: 'Ana.Silva@example.com' })).user).toMatchObject({ id: 'U0ANA', profile: { email: 'ana.silva@example.com', title: 'payments' } });
    expect((await slack.users.info({ user: 'U0BEN' })).user).toMatchObject({ id: 'U0BEN', name: 'ben', is_bot: false });
    expect((await slack.usergroups.users.list({ usergroup: 'S0PLATFORM' })).users).toEqual(['U0BEN', 'U0CY']);
  });

  test('opens, updates and pushes modals with trigger ids, and publishes home tabs', async () => {
    // Setup
    const modal = (title: string) => ({ type: 'modal' as const, title: { type: 'plain_text' as const, text: title }, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'hi' } }] });
    const trigger = api.issueTriggerId({ user: 'U0BEN' });

    // Execution
    const opened = await slack.views.open({ trigger_id: trigger, view: modal('Evidence 1/3') });
    const updated = await slack.views.update({ view_id: opened.view!.id!, hash: opened.view!.hash!, view: modal('Evidence 2/3') });
    const stale = await slackError(slack.views.update({ view_id: opened.view!.id!, hash: opened.view!.hash!, view: modal('Evidence 3/3') }));
    const pushed = await slack.views.push({ trigger_id: api.issueTriggerId({ user: 'U0BEN', viewId: opened.view!.id! }), view: modal('Deny request') });
    const home = await slack.views.publish({ user_id: 'U0BEN', view: { type: 'home', blocks: [{ type: 'divider' }] } });

    // Validation
    expect(api.state.views.get(opened.view!.id!)).toMatchObject({ user: 'U0BEN', view: { title: { text: 'Evidence 2/3' } } });
    expect(updated.view?.hash).not.toBe(opened.view?.hash);
    expect(stale.error).toBe('hash_conflict');
    expect(pushed.view).toMatchObject({ previous_view_id: opened.view!.id, root_view_id: opened.view!.id });
    expect(api.state.homes.get('U0BEN')).toBe(home.view?.id);
    expect(await slackError(slack.views.open({ trigger_id: trigger, view: modal('again') }))).toMatchObject({ error: 'exchanged_trigger_id' });
    const late = api.issueTriggerId();
    clock += TRIGGER_TTL_MS + 1;
    expect(await slackError(slack.views.open({ trigger_id: late, view: modal('late') }))).toMatchObject({ error: 'expired_trigger_id' });
  });
});

describe('what the stand-in refuses, as Slack does', () => {
  test('an unknown method', async () => {
    expect(await slackError(slack.apiCall('chat.teleport', {}))).toMatchObject({ error: 'unknown_method' });
  });

  test('a call without a token, and one with a wrong token', async () => {
    expect(await slackError(client().auth.test())).toMatchObject({ error: 'not_authed' });
    expect(await slackError(client('xoxb-wrong').auth.test())).toMatchObject({ error: 'invalid_auth' });
  });

  test('an unknown channel', async () => {
    expect(await slackError(slack.chat.postMessage({ channel: 'C0NOPE', text: 'x' }))).toMatchObject({ error: 'channel_not_found' });
  });

  test('invalid blocks, with a pointer to the problem', async () => {
    const record = changeRecord();
    const broken = [...record.blocks];
    broken[3] = { type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(3001) } };
    const answer = await slackError(slack.chat.postMessage({ channel: 'C0APPROVALS', text: record.text, blocks: broken }));
    expect(answer).toMatchObject({ error: 'invalid_blocks', response_metadata: { messages: ['[ERROR] must be less than 3001 characters [json-pointer:/blocks/3/text/text]'] } });
    expect(api.state.messages('C0APPROVALS')).toHaveLength(0);
  });

  test('too much block text in one message', async () => {
    const blocks = Array.from({ length: 5 }, () => ({ type: 'section', text: { type: 'mrkdwn', text: 'y'.repeat(2_900) } }));
    expect(await slackError(slack.chat.postMessage({ channel: 'C0APPROVALS', text: 'long', blocks }))).toMatchObject({ error: 'msg_blocks_too_long' });
  });

  test('blocks without a fallback text', async () => {
    const { blocks } = changeRecord();
    expect(await slackError(slack.chat.postMessage({ channel: 'C0APPROVALS', blocks, text: '' }))).toMatchObject({ error: 'no_text' });
    expect(await slackError(slack.apiCall('chat.postMessage', { channel: 'C0APPROVALS', blocks }))).toMatchObject({ error: 'no_text' });
  });

  test('an update of a message that does not exist', async () => {
    expect(await slackError(slack.chat.update({ channel: 'C0APPROVALS', ts: '1.000001', text: 'x' }))).toMatchObject({ error: 'message_not_found' });
  });

  test('unknown people and groups', async () => {
    expect(await slackError(slack.users.lookupByEmail({ email: 'nobody@example.com' }))).toMatchObject({ error: 'users_not_found' });
    expect(await slackError(slack.users.info({ user: 'U0NOBODY' }))).toMatchObject({ error: 'user_not_found' });
    expect(await slackError(slack.usergroups.users.list({ usergroup: 'S0NONE' }))).toMatchObject({ error: 'no_such_subteam' });
  });

  test('a modal over the limits', async () => {
    const answer = await slackError(slack.views.open({ trigger_id: api.issueTriggerId(), view: { type: 'modal', title: { type: 'plain_text', text: 'A title that is far too long' }, blocks: [] } }));
    expect(answer).toMatchObject({ error: 'invalid_arguments', response_metadata: { messages: ['[ERROR] must be less than 25 characters [json-pointer:/view/title/text]'] } });
  });
});

describe('test controls', () => {
  test('failNext makes the next call of a method fail once', async () => {
    api.failNext('chat.postMessage', 'fatal_error');
    expect(await slackError(slack.chat.postMessage({ channel: 'C0APPROVALS', text: 'a' }))).toMatchObject({ error: 'fatal_error' });
    expect((await slack.chat.postMessage({ channel: 'C0APPROVALS', text: 'b' })).ok).toBe(true);
  });

  test('rateLimit answers 429 with Retry-After, which the client surfaces as a rate-limited error', async () => {
    // Setup
    api.rateLimit({ method: 'chat.postMessage', channel: 'C0APPROVALS', retryAfterSeconds: 7, times: 1 });

    // Execution
    const limited = await slack.chat.postMessage({ channel: '#approvals', text: 'a' }).catch((err: unknown) => err);
    const otherChannel = await slack.chat.postMessage({ channel: 'C0SECURITY', text: 'b' });
    const afterwards = await slack.chat.postMessage({ channel: 'C0APPROVALS', text: 'c' });

    // Validation
    expect(limited).toMatchObject({ code: ErrorCode.RateLimitedError, retryAfter: 7 });
    expect(otherChannel.ok).toBe(true);
    expect(afterwards.ok).toBe(true);
    expect(api.calls.map((c) => c.status)).toEqual([429, 200, 200]);
    expect(api.state.messages('C0APPROVALS').map((m) => m.text)).toEqual(['c']);
  });

  test('accepts JSON bodies with a bearer token, and refuses malformed JSON', async () => {
    const post = (body: string) =>
      fetch(`${api.url}chat.postMessage`, { method: 'POST', headers: { authorization: `Bearer ${DEFAULT_TOKEN}`, 'content-type': 'application/json; charset=utf-8' }, body }).then((r) => r.json());
    expect(await post(JSON.stringify({ channel: 'C0APPROVALS', text: 'json', blocks: [{ type: 'divider' }] }))).toMatchObject({ ok: true, channel: 'C0APPROVALS' });
    expect(await post('{"channel":')).toEqual({ ok: false, error: 'invalid_json' });
    expect(api.calls[0]).toMatchObject({ contentType: 'application/json', params: { blocks: [{ type: 'divider' }] } });
  });

  test('waitFor resolves on a later call, and rejects when none comes', async () => {
    const waiting = api.waitFor((c) => c.method === 'chat.postMessage' && c.params.text === 'later');
    const seen: string[] = [];
    const stop = api.onCall((c) => seen.push(c.method));
    await slack.auth.test();
    await slack.chat.postMessage({ channel: 'C0APPROVALS', text: 'later' });
    stop();
    await slack.auth.test();
    expect((await waiting).response).toMatchObject({ ok: true });
    expect(seen).toEqual(['auth.test', 'chat.postMessage']);
    await expect(api.waitFor((c) => c.method === 'views.open', 50)).rejects.toThrow(/no matching Slack call within 50 ms/);
  });

  test('reset forgets calls and messages but keeps the directory', async () => {
    await slack.chat.postMessage({ channel: 'C0APPROVALS', text: 'x' });
    api.reset();
    expect(api.calls).toHaveLength(0);
    expect(api.state.messages('C0APPROVALS')).toHaveLength(0);
    expect((await slack.users.info({ user: 'U0ANA' })).ok).toBe(true);
  });
});
