import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import { isValidSlackRequest } from '@slack/bolt';
import type { Logger } from 'pino';
import { CountersignError, ErrorCode } from '../../core/errors.js';
import { sendProblem, toProblem } from '../http/problem.js';
import { readBody } from '../http/body.js';

/** Slack's own requests are small (a view submission with all its state is tens of KB). */
export const MAX_SLACK_BODY_BYTES = 1024 * 1024;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const hasId = (v: unknown) => isObject(v) && typeof v.id === 'string' && v.id !== '';

/**
 * What is wrong with the shape of a request to `/slack/events`, judged the way Bolt reads it
 * (undefined when Bolt can take it): interactions are a form field `payload` holding a JSON
 * object with a `type` and the `user` who acted; slash commands are form fields with `command`
 * and `user_id`; events are a JSON object with a `type`.
 */
export function slackShapeProblem(contentType: string | undefined, body: string): string | undefined {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    const fields = parseQuery(body);
    if (fields.ssl_check === '1') return undefined;
    if (fields.payload !== undefined) {
      if (typeof fields.payload !== 'string') return 'the payload field is given more than once';
      let payload: unknown;
      try {
        payload = JSON.parse(fields.payload);
      } catch {
        return 'the payload field is not JSON';
      }
      return interactionProblem(payload);
    }
    if (fields.command !== undefined) {
      if (typeof fields.command !== 'string' || !fields.command.startsWith('/')) return 'command must be one slash command';
      if (typeof fields.user_id !== 'string' || fields.user_id === '') return 'a slash command needs user_id';
      return undefined;
    }
    return 'a form body needs a payload (interactions) or a command (slash commands)';
  }
  if (type === 'application/json') {
    let event: unknown;
    try {
      event = JSON.parse(body);
    } catch {
      return 'the body is not JSON';
    }
    if (!isObject(event) || typeof event.type !== 'string') return 'an Events API body is an object with a type';
    if (event.type === 'event_callback' && !(isObject(event.event) && typeof event.event.type === 'string')) return 'an event_callback needs an event with a type';
    return undefined;
  }
  return `Slack sends application/x-www-form-urlencoded or application/json, not ${type || 'no content type'}`;
}

function interactionProblem(payload: unknown): string | undefined {
  if (!isObject(payload) || typeof payload.type !== 'string' || payload.type === '') return 'the payload is an object with a type';
  if (!hasId(payload.user)) return 'the payload names no user (user.id)';
  switch (payload.type) {
    case 'block_actions':
      if (!Array.isArray(payload.actions) || payload.actions.length === 0 || !payload.actions.every((a) => isObject(a) && typeof a.action_id === 'string')) {
        return 'block_actions needs actions, each with an action_id';
      }
      return undefined;
    case 'view_submission':
    case 'view_closed':
      if (!hasId(payload.view)) return `${payload.type} needs the view (view.id)`;
      return undefined;
    default:
      return undefined;
  }
}

/**
 * Wraps Bolt's HTTP listener: reads the body (up to MAX_SLACK_BODY_BYTES, else 413) and, when it
 * carries a valid Slack signature but a shape Bolt cannot take, answers 400 problem+json itself.
 * Bolt answered those with a 500 (a payload without `user`), a hang (a `null` payload) or a 404
 * after three seconds. Everything else (including bad signatures, which Bolt answers 401) goes on
 * to Bolt with the body already read.
 */
export function guardSlackRequests(listener: RequestListener, signingSecret: string, logger: Logger): RequestListener {
  return (req, res) => {
    void readBody(req, MAX_SLACK_BODY_BYTES).then(
      (raw) => {
        const body = raw.toString('utf8');
        const problem = req.method === 'POST' ? slackShapeProblem(header(req, 'content-type'), body) : undefined;
        if (problem && signed(req, body, signingSecret)) {
          logger.warn({ problem }, 'a signed Slack request of a shape Bolt cannot take was refused');
          sendProblem(res, toProblem(new CountersignError(ErrorCode.SlackPayloadInvalid, problem), '/slack/events'));
          return;
        }
        (req as IncomingMessage & { rawBody?: Buffer }).rawBody = raw;
        listener(req, res);
      },
      (err: unknown) => {
        const tooLarge = err instanceof CountersignError;
        sendProblem(res as ServerResponse, toProblem(tooLarge ? err : new CountersignError(ErrorCode.MalformedJson, 'the request body could not be read'), '/slack/events'));
      },
    );
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function signed(req: IncomingMessage, body: string, signingSecret: string): boolean {
  const signature = header(req, 'x-slack-signature');
  const timestamp = Number(header(req, 'x-slack-request-timestamp'));
  if (!signature || !Number.isFinite(timestamp)) return false;
  return isValidSlackRequest({ signingSecret, body, headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp } });
}

