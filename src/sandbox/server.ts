import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { SandboxActors, SandboxInputError, type SandboxAction } from './sandbox-actions.js';
import { snapshotFor, type ActivityEntry } from './sandbox-snapshot.js';
import { readBody } from './slack-request.js';
import type { SlackWebApiStandIn } from './slack-web-api.js';

export type { ActivityEntry, Snapshot } from './sandbox-snapshot.js';
export type { SandboxAction, ActResult } from './sandbox-actions.js';

/**
 * The local Slack sandbox: one HTTP server with
 * - the Slack Web API stand-in under `/api/*` (the app's SLACK_API_URL points here),
 * - the page (`/`, `/page/*`: plain HTML, CSS and ES modules, no build step),
 * - a small JSON API for the page: `GET /sandbox/snapshot?as=<user>`, `GET /sandbox/stream`
 *   (server-sent events on every change), `POST /sandbox/act` (act as a person), and the
 *   `response_url`s handed to the app (`POST /sandbox/response/:id`).
 * It listens on loopback only by default: whoever reaches it can act as anyone.
 */

export interface SandboxServerOptions {
  standIn: SlackWebApiStandIn;
  /** The app's SLACK_SIGNING_SECRET: every payload is signed with it, as Slack does. */
  signingSecret: string;
  /** The app's base URL; may be set later with {@link SandboxServer.setAppUrl}. */
  appUrl?: string;
  /** Whom the page acts as at first (a user id). */
  defaultActor?: string;
  /** A line the page shows under its title (e.g. what to try first). */
  hint?: string;
}

const PAGE_DIR = join(import.meta.dirname, 'page');
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};
/** Everything the page loads comes from here; nothing inline, nothing remote. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const MAX_ACTIVITY = 300;
const LOOPBACK = /^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/;

export class SandboxServer {
  url = '';
  private appUrl: string | undefined;
  private server: Server | undefined;
  private version = 1;
  private pending = false;
  private readonly streams = new Set<ServerResponse>();
  private readonly activityLog: ActivityEntry[] = [];
  private readonly actors: SandboxActors;
  private readonly files = new Map<string, string>();
  private loopbackOnly = true;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly options: SandboxServerOptions) {
    this.appUrl = options.appUrl;
    this.actors = new SandboxActors({
      standIn: options.standIn,
      signingSecret: options.signingSecret,
      appUrl: () => this.appUrl,
      selfUrl: () => this.url,
      changed: () => this.changed(),
    });
    options.standIn.onCall(() => this.changed());
    for (const name of readdirSync(PAGE_DIR)) if (/^[a-z0-9-]+\.(html|js|css|svg|png)$/.test(name)) this.files.set(name, join(PAGE_DIR, name));
  }

  /** The stand-in's base URL for the app's SLACK_API_URL. */
  get slackApiUrl(): string {
    return `${this.url}/api/`;
  }

  setAppUrl(url: string): void {
    this.appUrl = url.replace(/\/+$/, '');
  }

  /** Adds a line to the Agent panel. */
  activity(entry: Omit<ActivityEntry, 'at'> & { at?: number }): void {
    this.activityLog.push({ at: Date.now(), ...entry });
    if (this.activityLog.length > MAX_ACTIVITY) this.activityLog.splice(0, this.activityLog.length - MAX_ACTIVITY);
    this.changed();
  }

  /** Tells every open page that something changed (coalesced: one event per tick). */
  private changed(): void {
    this.version += 1;
    if (this.pending) return;
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      for (const res of this.streams) res.write(`event: change\ndata: ${JSON.stringify({ version: this.version })}\n\n`);
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (await this.options.standIn.handle(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://sandbox');
    // A web page elsewhere must not drive the sandbox (DNS rebinding, cross-site posts).
    if (this.loopbackOnly && !LOOPBACK.test(req.headers.host ?? '')) return send(res, 421, { error: 'unexpected Host' });
    if (req.method === 'POST' && req.headers.origin && req.headers.origin !== `http://${req.headers.host}`) return send(res, 403, { error: 'cross-origin request' });

    if (req.method === 'GET' && (url.pathname === '/' || url.pathname === '/index.html')) return this.file(res, 'index.html');
    if (req.method === 'GET' && url.pathname.startsWith('/page/')) return this.file(res, url.pathname.slice('/page/'.length));
    if (req.method === 'GET' && url.pathname === '/sandbox/config') {
      return send(res, 200, { defaultActor: this.defaultActor(), hint: this.options.hint ?? null, appUrl: this.appUrl ?? null });
    }
    if (req.method === 'GET' && url.pathname === '/sandbox/snapshot') {
      const me = url.searchParams.get('as') ?? this.defaultActor() ?? '';
      if (!this.options.standIn.state.users.has(me)) return send(res, 400, { error: `no person ${me}` });
      return send(res, 200, snapshotFor(this.options.standIn, me, { version: this.version, modals: this.actors.modals.get(me) ?? [], activity: this.activityLog }));
    }
    if (req.method === 'GET' && url.pathname === '/sandbox/stream') return this.stream(res);
    if (req.method === 'POST' && url.pathname === '/sandbox/act') {
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return send(res, 415, { error: 'send application/json' });
      const body = await readJson(req);
      if (!body) return send(res, 400, { error: 'the body is not a JSON object' });
      try {
        return send(res, 200, await this.actors.act(body as unknown as SandboxAction));
      } catch (err) {
        if (err instanceof SandboxInputError) return send(res, 400, { error: err.message });
        throw err;
      }
    }
    const response = /^\/sandbox\/response\/([a-f0-9]{24})$/.exec(url.pathname);
    if (req.method === 'POST' && response) {
      const ok = this.actors.responseUrlCalled(response[1] as string, await readJson(req));
      return ok ? send(res, 200, { ok: true }) : send(res, 404, { ok: false, error: 'expired_url' });
    }
    req.resume();
    send(res, 404, { error: `no route ${req.method} ${url.pathname}` });
  }

  private defaultActor(): string | undefined {
    if (this.options.defaultActor) return this.options.defaultActor;
    for (const u of this.options.standIn.state.users.values()) if (!u.isBot && !u.deleted) return u.id;
    return undefined;
  }

  private file(res: ServerResponse, name: string): void {
    const path = this.files.get(name);
    if (!path) return send(res, 404, { error: 'no such file' });
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[extname(name)] ?? 'application/octet-stream',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    });
    res.end(readFileSync(path));
  }

  private stream(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`retry: 1000\nevent: change\ndata: ${JSON.stringify({ version: this.version })}\n\n`);
    this.streams.add(res);
    res.on('close', () => this.streams.delete(res));
  }

  /** Listens (default: loopback, a free port) and sets {@link url}. */
  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    this.loopbackOnly = ['127.0.0.1', 'localhost', '::1'].includes(host);
    const server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, { error: err instanceof Error ? err.message : String(err) });
        else res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    this.url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
    this.heartbeat = setInterval(() => {
      for (const s of this.streams) s.write(': keep-alive\n\n');
    }, 15_000);
    this.heartbeat.unref();
    return this.url;
  }

  /** Stops listening and ends open pages' event streams. */
  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const s of this.streams) s.end();
    this.streams.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

/** Starts a sandbox server; `url` is set when it resolves. */
export async function startSandboxServer(options: SandboxServerOptions & { port?: number; host?: string }): Promise<SandboxServer> {
  const sandbox = new SandboxServer(options);
  await sandbox.listen(options.port, options.host);
  return sandbox;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const raw = await readBody(req);
  if (raw === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
