import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeParams, readBody } from './slack-request.js';
import { METHODS, SlackApiError, type ApiResult, type MethodContext, type Params } from './slack-methods.js';
import { SlackWorkspace, type SandboxChannel, type SandboxUser, type SandboxUsergroup, type WorkspaceSeed } from './slack-workspace.js';

export type { Conversation, SandboxChannel, SandboxUser, SandboxUsergroup, StoredEphemeral, StoredMessage, StoredView } from './slack-workspace.js';
export { SlackWorkspace } from './slack-workspace.js';
export { TRIGGER_TTL_MS } from './slack-methods.js';

/**
 * A Slack Web API stand-in on plain HTTP (in the spirit of Teleport's `fake_slack.go`): the
 * methods Countersign uses, with Slack's request encodings, response shapes, error codes and
 * 429s, over a workspace state that tests and the local sandbox page read directly. Point
 * `@slack/web-api` (or Bolt's `clientOptions.slackApiUrl`, or `SLACK_API_URL`) at `url`.
 */

/** One Web API call as the stand-in received and answered it. */
export interface RecordedCall {
  seq: number;
  /** Epoch ms, from the stand-in's clock. */
  at: number;
  method: string;
  /** The token the call carried (header or `token` field), if any. */
  token?: string;
  contentType: string;
  /** Arguments, decoded: `blocks` and `view` are objects even when sent JSON-encoded in a form. */
  params: Params;
  /** 200, or 429 when rate limited. */
  status: number;
  response: ApiResult;
}

export interface SlackWebApiOptions {
  /** Accepted tokens (default `xoxb-sandbox-token`). */
  tokens?: string[];
  team?: WorkspaceSeed['team'];
  bot?: WorkspaceSeed['bot'];
  users?: SandboxUser[];
  usergroups?: SandboxUsergroup[];
  channels?: SandboxChannel[];
  /** Clock for message timestamps and trigger expiry (default `Date.now`). */
  now?: () => number;
  /** Refuse blocks without fallback text with `no_text` (default true; Slack only warns). */
  requireFallbackText?: boolean;
  /** Refuse trigger ids that {@link SlackWebApiStandIn.issueTriggerId} did not issue (default false). */
  strictTriggers?: boolean;
  /** Base of permalinks and of `auth.test`'s `url`. */
  permalinkBase?: string;
  onCall?: (call: RecordedCall) => void;
  /** Listening address for {@link startSlackWebApi} (default 127.0.0.1 on a free port). */
  host?: string;
  port?: number;
}

export interface RateLimitRule {
  /** Only this method (default: every method). */
  method?: string;
  /** Only calls to this channel id or name. */
  channel?: string;
  retryAfterSeconds: number;
  /** How many calls to refuse (default 1). */
  times?: number;
}

export const DEFAULT_TOKEN = 'xoxb-sandbox-token';

interface Waiter {
  predicate: (call: RecordedCall) => boolean;
  resolve: (call: RecordedCall) => void;
}

/** The stand-in: a request handler plus the controls tests and the sandbox use. */
export class SlackWebApiStandIn {
  /** Every call, in order. Cleared in place by {@link reset}. */
  readonly calls: RecordedCall[] = [];
  readonly state: SlackWorkspace;
  url = '';
  private readonly tokens: Set<string>;
  private readonly ctx: MethodContext;
  private readonly failures = new Map<string, { error: string; extra: Record<string, unknown> }[]>();
  private limits: (RateLimitRule & { times: number })[] = [];
  private readonly listeners = new Set<(call: RecordedCall) => void>();
  private waiters: Waiter[] = [];
  private server: Server | undefined;
  private readonly now: () => number;

  constructor(options: SlackWebApiOptions = {}) {
    this.now = options.now ?? Date.now;
    this.tokens = new Set(options.tokens ?? [DEFAULT_TOKEN]);
    this.state = new SlackWorkspace(
      {
        team: options.team ?? { id: 'T0SANDBOX', name: 'Countersign Sandbox', domain: 'countersign-sandbox' },
        bot: options.bot ?? { userId: 'U0COUNTERSIGN', botId: 'B0COUNTERSIGN', appId: 'A0COUNTERSIGN', name: 'countersign' },
        users: options.users ?? [],
        usergroups: options.usergroups ?? [],
        channels: options.channels ?? [],
      },
      this.now,
    );
    this.ctx = {
      ws: this.state,
      now: this.now,
      requireFallbackText: options.requireFallbackText ?? true,
      strictTriggers: options.strictTriggers ?? false,
      permalinkBase: options.permalinkBase ?? 'https://countersign-sandbox.slack.local',
    };
    if (options.onCall) this.listeners.add(options.onCall);
  }

  /** Makes the next call of `method` fail with `error` (queued: call twice to fail twice). */
  failNext(method: string, error: string, extra: Record<string, unknown> = {}): void {
    const queue = this.failures.get(method) ?? [];
    queue.push({ error, extra });
    this.failures.set(method, queue);
  }

  /** Answers matching calls with HTTP 429 and `Retry-After`, as Slack does when a tier is exhausted. */
  rateLimit(rule: RateLimitRule): void {
    this.limits.push({ ...rule, times: rule.times ?? 1 });
  }

  /** Subscribes to calls as they are answered; returns the unsubscribe function. */
  onCall(listener: (call: RecordedCall) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The first call (past or future) that matches, or a rejection after `timeoutMs`. */
  waitFor(predicate: (call: RecordedCall) => boolean, timeoutMs = 2_000): Promise<RecordedCall> {
    const seen = this.calls.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve: (call) => {
          clearTimeout(timer);
          resolve(call);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching Slack call within ${timeoutMs} ms; calls so far: ${this.calls.map((c) => c.method).join(', ') || 'none'}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Forgets calls, controls and state: back to the configured directory and channels. */
  reset(): void {
    this.calls.length = 0;
    this.failures.clear();
    this.limits = [];
    this.state.reset();
  }

  /** A trigger id for an interaction by `user` (from modal `viewId`), usable once within 3 s. */
  issueTriggerId(options: { user?: string; viewId?: string } = {}): string {
    return this.state.issueTrigger(options);
  }

  /** Answers one call in process, without HTTP (the sandbox page and unit tests may use it). */
  call(method: string, params: Params, token?: string, contentType = 'application/json'): RecordedCall {
    return this.dispatch(method, params, token, contentType, false);
  }

  private dispatch(method: string, params: Params, token: string | undefined, contentType: string, invalidJson: boolean): RecordedCall {
    const call: RecordedCall = { seq: this.calls.length + 1, at: this.now(), method, contentType, params, status: 200, response: { ok: true } };
    if (token !== undefined) call.token = token;
    call.response = this.answer(call, invalidJson);
    this.record(call);
    return call;
  }

  private answer(call: RecordedCall, invalidJson: boolean): ApiResult {
    const handler = METHODS[call.method];
    if (!handler) return { ok: false, error: 'unknown_method', req_method: call.method };
    if (!call.token) return { ok: false, error: 'not_authed' };
    if (!this.tokens.has(call.token)) return { ok: false, error: 'invalid_auth' };
    const limit = this.limits.find((l) => l.times > 0 && (!l.method || l.method === call.method) && (!l.channel || this.sameChannel(l.channel, call.params.channel)));
    if (limit) {
      limit.times -= 1;
      call.status = 429;
      return { ok: false, error: 'ratelimited', retry_after: limit.retryAfterSeconds };
    }
    const failure = this.failures.get(call.method)?.shift();
    if (failure) return { ok: false, error: failure.error, ...failure.extra };
    if (invalidJson) return { ok: false, error: 'invalid_json' };
    try {
      return { ok: true, ...handler(call.params, this.ctx) };
    } catch (err) {
      if (err instanceof SlackApiError) return { ok: false, error: err.error, ...err.extra };
      return { ok: false, error: 'internal_error', detail: err instanceof Error ? err.message : String(err) };
    }
  }

  private sameChannel(ruleChannel: string, param: unknown): boolean {
    if (typeof param !== 'string') return false;
    return ruleChannel === param || this.state.resolveChannel(ruleChannel)?.id === this.state.resolveChannel(param)?.id;
  }

  private record(call: RecordedCall): void {
    this.calls.push(call);
    for (const listener of this.listeners) listener(call);
    const ready = this.waiters.filter((w) => w.predicate(call));
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve(call);
  }

  /**
   * Handles `POST|GET <prefix>/api/<method>`; returns false for other paths, so that a bigger
   * server (the sandbox page) can mount the stand-in next to its own routes.
   */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const match = /\/api\/([A-Za-z0-9_.]+)$/.exec(url.pathname);
    if (!match) return false;
    const raw = await readBody(req);
    if (raw === undefined) {
      res.writeHead(413, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ ok: false, error: 'request_too_large' }));
      return true;
    }
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const { params, invalidJson } = decodeParams(contentType, raw, url.searchParams);
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const token = bearer ?? (typeof params.token === 'string' ? params.token : undefined);
    delete params.token;
    const call = this.dispatch(match[1] as string, params, token, contentType, invalidJson);
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
    if (call.status === 429) headers['retry-after'] = String(call.response.retry_after);
    res.writeHead(call.status, headers).end(JSON.stringify(call.response));
    return true;
  }

  /** Listens on `host:port` (default a free loopback port) and sets {@link url}. */
  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => {
      this.handle(req, res)
        .then((handled) => {
          if (!handled) res.writeHead(404, { 'content-type': 'text/plain' }).end('not a Slack Web API path');
        })
        .catch((err: unknown) => {
          if (!res.headersSent) res.writeHead(500).end(String(err));
        });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.url = `http://${shownHost}:${address.port}/api/`;
    return this.url;
  }

  /** Stops listening and drops open (keep-alive) connections. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

/** Starts a stand-in on a free loopback port; `url` ends in `/api/`. Call `close()` when done. */
export async function startSlackWebApi(options: SlackWebApiOptions = {}): Promise<SlackWebApiStandIn> {
  const standIn = new SlackWebApiStandIn(options);
  await standIn.listen(options.port, options.host);
  return standIn;
}
