import { randomUUID } from 'node:crypto';
import { ACTION_APPROVE, ACTION_DENY, ACTION_VIEW_EVIDENCE } from '../../blocks/change-record.js';
import { CALLBACK_DENY, DENY_REASON_ACTION, DENY_REASON_BLOCK } from '../../blocks/deny-modal.js';
import { DEMO_WORKSPACE, demoUser } from '../../src/sandbox/demo-workspace.js';
import { buttonClickPayload, signedInteraction, signedSlashCommand, slashCommandFields, viewSubmissionPayload } from '../../src/sandbox/slack-interactions.js';
import { DEFAULT_TOKEN, startSlackWebApi, type SlackWebApiStandIn, type StoredMessage } from '../../src/sandbox/slack-web-api.js';
import { startTestApp, type TestApp } from './app.js';
import { call, type HttpAnswer } from './agent-http.js';

export const SIGNING_SECRET = 'test-signing-secret-0123456789abcdef';

export interface SlackTestApp extends TestApp {
  slack: SlackWebApiStandIn;
}

/** The real app in HTTP mode, talking to the Slack stand-in seeded with the demo workspace. */
export async function startSlackTestApp(options: Parameters<typeof startTestApp>[0] = {}): Promise<SlackTestApp> {
  const slack = await startSlackWebApi({ ...DEMO_WORKSPACE });
  const t = await startTestApp({
    ...options,
    env: { SLACK_BOT_TOKEN: DEFAULT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: slack.url, ...options.env },
  });
  return {
    ...t,
    slack,
    async close() {
      await t.close();
      await slack.close();
    },
  };
}

/** The change record of a gate: the message whose buttons carry its id. */
export function changeRecord(slack: SlackWebApiStandIn, gateId: string): StoredMessage | undefined {
  for (const conversation of slack.state.conversations.values()) {
    for (const message of conversation.messages) {
      if (!message.thread_ts && JSON.stringify(message.blocks ?? []).includes(`"value":"${gateId}"`)) return message;
    }
  }
  // Once decided, the buttons are gone: find it by the gate id in its text instead.
  for (const conversation of slack.state.conversations.values()) {
    for (const message of conversation.messages) {
      if (!message.thread_ts && !conversation.isIm && JSON.stringify(message.blocks ?? []).includes(gateId)) return message;
    }
  }
  return undefined;
}

/** Posts a signed interaction to the app's /slack/events, as Slack would. */
export async function sendInteraction(t: SlackTestApp, payload: unknown, options: { secret?: string; timestamp?: number } = {}): Promise<HttpAnswer> {
  const { body, headers } = signedInteraction(options.secret ?? SIGNING_SECRET, payload, options.timestamp);
  return call(t.app.url, 'POST', '/slack/events', { body, headers });
}

/** A reviewer (demo user short name, or a user id) clicks a button on a gate's change record. */
export async function click(t: SlackTestApp, gateId: string, who: string, actionId: string = ACTION_APPROVE, options: { secret?: string; timestamp?: number } = {}): Promise<HttpAnswer> {
  const message = changeRecord(t.slack, gateId);
  if (!message) throw new Error(`no change record for ${gateId}`);
  const actor = who.startsWith('U') ? { id: who } : { id: demoUser(who).id, name: who };
  const payload = buttonClickPayload({
    actor,
    actionId,
    value: gateId,
    channel: message.channel,
    messageTs: message.ts,
    triggerId: t.slack.issueTriggerId({ user: actor.id }),
  });
  return sendInteraction(t, payload, options);
}

export const approve = (t: SlackTestApp, gateId: string, who: string) => click(t, gateId, who, ACTION_APPROVE);
export const viewEvidence = (t: SlackTestApp, gateId: string, who: string) => click(t, gateId, who, ACTION_VIEW_EVIDENCE);

/** Opens the deny modal and submits it with a reason. */
export async function deny(t: SlackTestApp, gateId: string, who: string, reason: string | null): Promise<HttpAnswer> {
  await click(t, gateId, who, ACTION_DENY);
  const opened = await t.slack.waitFor((c) => c.method === 'views.open' && JSON.stringify(c.params.view).includes(CALLBACK_DENY));
  const view = opened.response.view as { id: string; hash: string; callback_id: string; private_metadata: string };
  const actor = { id: demoUser(who).id, name: who };
  return sendInteraction(
    t,
    viewSubmissionPayload({
      actor,
      view,
      values: { [DENY_REASON_BLOCK]: { [DENY_REASON_ACTION]: { type: 'plain_text_input', value: reason } } },
      triggerId: t.slack.issueTriggerId({ user: actor.id }),
    }),
  );
}

/** Runs `/countersign <text>` as a user. */
export async function slash(t: SlackTestApp, who: string, text: string, channel = 'C07KVJ50CE9'): Promise<HttpAnswer> {
  const actor = who.startsWith('U') ? { id: who } : { id: demoUser(who).id, name: who };
  const { body, headers } = signedSlashCommand(SIGNING_SECRET, slashCommandFields({ actor, command: '/countersign', text, channel, triggerId: t.slack.issueTriggerId({ user: actor.id }) }));
  return call(t.app.url, 'POST', '/slack/events', { body, headers });
}

/** Ephemeral messages one user received, newest last. */
export function ephemeralsFor(slack: SlackWebApiStandIn, who: string): string[] {
  const id = who.startsWith('U') ? who : demoUser(who).id;
  return slack.state.ephemerals.filter((e) => e.user === id).map((e) => e.text ?? '');
}

/** Waits until `check` holds (the app works after it acks), or fails after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 3_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const uniqueKey = () => randomUUID();
