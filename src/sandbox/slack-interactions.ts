import { createHmac } from 'node:crypto';

/**
 * Builds what Slack sends to an app's `/slack/events` when a person clicks, submits a modal or
 * runs a slash command: the payload shapes, the form encoding, and the `v0` request signature.
 * The sandbox page and the tests both use it, so the app sees exactly what Slack would send.
 */

export interface SlackActor {
  id: string;
  name?: string;
  teamId?: string;
}

/** `X-Slack-Signature` and `X-Slack-Request-Timestamp` for a raw body (v0 HMAC-SHA256). */
export function slackSignature(signingSecret: string, body: string, timestampSeconds = Math.floor(Date.now() / 1000)): Record<string, string> {
  const signature = `v0=${createHmac('sha256', signingSecret).update(`v0:${timestampSeconds}:${body}`).digest('hex')}`;
  return { 'x-slack-signature': signature, 'x-slack-request-timestamp': String(timestampSeconds) };
}

export interface SignedSlackRequest {
  body: string;
  headers: Record<string, string>;
}

/** A form-encoded, signed request carrying an interaction payload (`payload=<json>`). */
export function signedInteraction(signingSecret: string, payload: unknown, timestampSeconds?: number): SignedSlackRequest {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  return { body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...slackSignature(signingSecret, body, timestampSeconds) } };
}

/** A form-encoded, signed slash command. */
export function signedSlashCommand(signingSecret: string, fields: Record<string, string>, timestampSeconds?: number): SignedSlackRequest {
  const body = new URLSearchParams(fields).toString();
  return { body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...slackSignature(signingSecret, body, timestampSeconds) } };
}

const team = (actor: SlackActor) => ({ id: actor.teamId ?? 'T0SANDBOX', domain: 'sandbox' });
const user = (actor: SlackActor) => ({ id: actor.id, username: actor.name ?? actor.id, name: actor.name ?? actor.id, team_id: actor.teamId ?? 'T0SANDBOX' });

/** A `block_actions` payload for a button in a message. */
export function buttonClickPayload(options: {
  actor: SlackActor;
  actionId: string;
  value: string;
  blockId?: string;
  channel: string;
  messageTs: string;
  triggerId: string;
  responseUrl?: string;
}): Record<string, unknown> {
  return {
    type: 'block_actions',
    team: team(options.actor),
    user: user(options.actor),
    api_app_id: 'A0SANDBOX',
    token: 'unused-verification-token',
    container: { type: 'message', message_ts: options.messageTs, channel_id: options.channel, is_ephemeral: false },
    trigger_id: options.triggerId,
    channel: { id: options.channel, name: options.channel },
    message: { type: 'message', ts: options.messageTs },
    response_url: options.responseUrl ?? 'https://hooks.slack.com/actions/T0SANDBOX/1/sandbox',
    actions: [
      {
        type: 'button',
        action_id: options.actionId,
        block_id: options.blockId ?? 'gate_actions',
        value: options.value,
        text: { type: 'plain_text', text: options.actionId },
        action_ts: (Date.now() / 1000).toFixed(6),
      },
    ],
  };
}

/** A `block_actions` payload for a button inside a modal. */
export function viewButtonClickPayload(options: {
  actor: SlackActor;
  actionId: string;
  value: string;
  blockId?: string;
  view: { id: string; hash: string; callback_id: string; private_metadata: string };
  triggerId: string;
}): Record<string, unknown> {
  return {
    type: 'block_actions',
    team: team(options.actor),
    user: user(options.actor),
    api_app_id: 'A0SANDBOX',
    token: 'unused-verification-token',
    container: { type: 'view', view_id: options.view.id },
    trigger_id: options.triggerId,
    view: { ...options.view, type: 'modal', state: { values: {} } },
    actions: [
      {
        type: 'button',
        action_id: options.actionId,
        block_id: options.blockId ?? 'evidence_nav',
        value: options.value,
        text: { type: 'plain_text', text: options.actionId },
        action_ts: (Date.now() / 1000).toFixed(6),
      },
    ],
  };
}

/** A `view_submission` payload; `values` is block id → action id → `{ type, value }`. */
export function viewSubmissionPayload(options: {
  actor: SlackActor;
  view: { id: string; hash?: string; callback_id: string; private_metadata: string };
  values: Record<string, Record<string, { type: string; value: string | null }>>;
  triggerId: string;
}): Record<string, unknown> {
  return {
    type: 'view_submission',
    team: team(options.actor),
    user: user(options.actor),
    api_app_id: 'A0SANDBOX',
    token: 'unused-verification-token',
    trigger_id: options.triggerId,
    view: {
      id: options.view.id,
      type: 'modal',
      callback_id: options.view.callback_id,
      private_metadata: options.view.private_metadata,
      hash: options.view.hash ?? 'h',
      state: { values: options.values },
    },
    response_urls: [],
  };
}

/** The fields of a slash command request. */
export function slashCommandFields(options: { actor: SlackActor; command: string; text: string; channel: string; triggerId: string; responseUrl?: string }): Record<string, string> {
  return {
    token: 'unused-verification-token',
    team_id: options.actor.teamId ?? 'T0SANDBOX',
    team_domain: 'sandbox',
    channel_id: options.channel,
    channel_name: options.channel,
    user_id: options.actor.id,
    user_name: options.actor.name ?? options.actor.id,
    command: options.command,
    text: options.text,
    api_app_id: 'A0SANDBOX',
    response_url: options.responseUrl ?? 'https://hooks.slack.com/commands/T0SANDBOX/1/sandbox',
    trigger_id: options.triggerId,
  };
}
