import { randomUUID } from 'node:crypto';
import { slackSignature } from '../../src/sandbox/slack-interactions.js';
import { demoUser } from '../../src/sandbox/demo-workspace.js';
import { call, signedCall, type HttpAnswer } from '../support/agent-http.js';
import { example } from '../support/gates.js';
import { SIGNING_SECRET, slash, startSlackTestApp, type SlackTestApp } from '../support/slack.js';

/** Shared by the admin-*.test.ts files. */

/** The demo workspace's platform on-call group (marta, jonas, aiko) serves as the admin group. */
export const ADMIN_GROUP = 'S04T75V2SEH';
/** The default policy's security channel (policies/defaults.yaml). */
export const SECURITY_CHANNEL = 'C0519R0WYOJ';

export async function startAdminApp(options: Parameters<typeof startSlackTestApp>[0] = {}): Promise<SlackTestApp> {
  return startSlackTestApp({ ...options, env: { COUNTERSIGN_ADMIN_GROUP: ADMIN_GROUP, ...options.env } });
}

/** Runs `/countersign <text>` and returns the ephemeral answer's text (fallback plus every block). */
export async function command(t: SlackTestApp, who: string, text: string): Promise<{ status: number; text: string; body: any }> {
  const answer = await slash(t, who, text);
  const blocks = (answer.body?.blocks ?? []) as Array<{ text?: { text?: string } }>;
  return { status: answer.status, text: [answer.body?.text ?? '', ...blocks.map((b) => b.text?.text ?? '')].join('\n'), body: answer.body };
}

/** An agent asks for one of the example actions; returns the created gate as the API shows it. */
export async function requestGate(t: SlackTestApp, name: string, agent: string, patch: Record<string, unknown> = {}): Promise<any> {
  const answer = await signedCall(t.app.url, agent, t.secrets[agent]!, 'POST', '/v1/gates', { json: { ...example(name), ...patch } });
  if (answer.status !== 201) throw new Error(`gate not created: ${answer.status} ${answer.text}`);
  return answer.body;
}

/** Sends a signed Events API callback, as Slack would. */
export async function sendEvent(t: SlackTestApp, event: Record<string, unknown>): Promise<HttpAnswer> {
  const body = JSON.stringify({
    token: 'unused-verification-token',
    team_id: 'T0SANDBOX',
    api_app_id: 'A0SANDBOX',
    event: { event_ts: (Date.now() / 1000).toFixed(6), ...event },
    type: 'event_callback',
    event_id: `Ev${randomUUID().replace(/-/g, '').slice(0, 12).toUpperCase()}`,
    event_time: Math.floor(Date.now() / 1000),
  });
  return call(t.app.url, 'POST', '/slack/events', { body, headers: { 'content-type': 'application/json', ...slackSignature(SIGNING_SECRET, body) } });
}

/** A person opens the app's Home tab. */
export const openHome = (t: SlackTestApp, who: string) =>
  sendEvent(t, { type: 'app_home_opened', user: demoUser(who).id, channel: 'D0HOME0001', tab: 'home' });
