import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { CountersignError, ErrorCode } from '../../core/errors.js';
import { sendProblem, toProblem } from './problem.js';

/** What a route handler returns; the router writes it. */
export interface Reply {
  status: number;
  body?: unknown;
  /** Pre-serialized body (e.g. Prometheus text); `body` is ignored when set. */
  raw?: string;
  headers?: Record<string, string>;
}

export interface RouteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  url: URL;
  headers: IncomingHttpHeaders;
  requestId: string;
}

export type Handler = (request: RouteRequest) => Promise<Reply | 'handled'>;

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
}

/** A small method + path router (`/v1/gates/:id`) that turns every thrown error into problem+json. */
export class Router {
  private readonly routes: Route[] = [];

  constructor(private readonly logger: Logger) {}

  on(method: string, path: string, handler: Handler): this {
    const names: string[] = [];
    const pattern = new RegExp(
      `^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:(\w+)/g, (_m, name: string) => {
        names.push(name);
        return '([^/]+)';
      })}/?$`,
    );
    this.routes.push({ method, pattern, names, handler });
    return this;
  }

  /** Handles a request; returns false when no route's path matches (so another listener may). */
  async dispatch(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<boolean> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      sendProblem(res, toProblem(new CountersignError(ErrorCode.RouteNotFound, 'the request target is not a valid URL')));
      return true;
    }
    const matching = this.routes.filter((r) => r.pattern.test(url.pathname));
    if (matching.length === 0) return false;
    // HEAD is GET without the body (RFC 9110 §9.3.2; node:http leaves the body out).
    const route = matching.find((r) => r.method === req.method) ?? (req.method === 'HEAD' ? matching.find((r) => r.method === 'GET') : undefined);
    if (!route) {
      req.resume();
      const methods = new Set(matching.map((r) => r.method));
      if (methods.has('GET')) methods.add('HEAD');
      sendProblem(
        res,
        toProblem(new CountersignError(ErrorCode.MethodNotAllowed, `${req.method} is not allowed on ${url.pathname}`), url.pathname),
        { allow: [...methods].join(', ') },
      );
      return true;
    }
    const match = route.pattern.exec(url.pathname)!;
    const params: Record<string, string> = {};
    route.names.forEach((name, i) => {
      params[name] = safeDecode(match[i + 1]!);
    });
    try {
      const reply = await route.handler({ req, res, params, url, headers: req.headers, requestId });
      if (reply !== 'handled') writeReply(res, reply);
    } catch (err) {
      const problem = toProblem(err, url.pathname);
      if (problem.status >= 500) this.logger.error({ err, requestId, path: url.pathname }, 'request failed');
      else this.logger.info({ requestId, path: url.pathname, code: problem.code, status: problem.status }, problem.detail);
      if (!req.readableEnded) req.resume();
      sendProblem(res, problem, { 'x-request-id': requestId });
    }
    return true;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Writes a JSON (or raw) reply. */
export function writeReply(res: ServerResponse, reply: Reply): void {
  const body = reply.raw ?? (reply.body === undefined ? '' : JSON.stringify(reply.body));
  res.writeHead(reply.status, {
    ...(reply.raw === undefined && reply.body !== undefined ? { 'content-type': 'application/json' } : {}),
    'content-length': Buffer.byteLength(body),
    ...reply.headers,
  });
  res.end(body);
}
