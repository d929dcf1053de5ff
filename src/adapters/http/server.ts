import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { CountersignError, ErrorCode } from '../../core/errors.js';
import { sendProblem, toProblem } from './problem.js';
import type { Router } from './router.js';

export interface HttpServerOptions {
  router: Router;
  logger: Logger;
  redis: Redis;
  /** Bolt's HTTP receiver listener for `/slack/events` (HTTP mode only). */
  slackListener?: RequestListener;
}

/**
 * One node:http server for everything on PORT: the agent API, health, and Slack's
 * `/slack/events` (handed to Bolt's receiver), in HTTP mode and in Socket Mode alike.
 */
export function createHttpServer(options: HttpServerOptions): Server {
  const { router, logger, redis, slackListener } = options;

  router.on('GET', '/healthz', async () => ({ status: 200, body: { status: 'ok' }, headers: { 'cache-control': 'no-store' } }));
  router.on('GET', '/readyz', async () => {
    const ready = await pingWithin(redis, 1000);
    return {
      status: ready ? 200 : 503,
      body: { status: ready ? 'ready' : 'unavailable', redis: ready ? 'ok' : 'unreachable' },
      headers: { 'cache-control': 'no-store' },
    };
  });

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const requestId = headerValue(req.headers['x-request-id']) ?? randomUUID();
    res.setHeader('x-request-id', requestId);
    const path = (req.url ?? '/').split('?')[0];
    if (slackListener && path === '/slack/events') {
      slackListener(req, res);
      return;
    }
    router
      .dispatch(req, res, requestId)
      .then((handled) => {
        if (handled) return;
        req.resume();
        sendProblem(res, toProblem(new CountersignError(ErrorCode.RouteNotFound, `no route for ${req.method} ${path}`), path));
      })
      .catch((err: unknown) => {
        logger.error({ err, requestId }, 'unhandled error in request dispatch');
        sendProblem(res, toProblem(err));
      });
  };

  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 30_000, headersTimeout: 20_000 }, listener);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // What Node's parser refuses before any route sees it still gets a problem+json answer.
    if (socket.writable && err.code !== 'ECONNRESET') {
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      const problem = toProblem(
        tooLarge
          ? new CountersignError(ErrorCode.HeadersTooLarge, 'the request headers are larger than this server accepts (16 KiB)')
          : new CountersignError(ErrorCode.MalformedHttp, `the request could not be parsed as HTTP/1.1 (${String(err.code ?? 'parse error').slice(0, 40)})`),
      );
      const body = JSON.stringify(problem);
      socket.end(
        `HTTP/1.1 ${problem.status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    logger.debug({ err }, 'client error');
  });
  return server;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s && /^[\w.-]{1,128}$/.test(s) ? s : undefined;
}

async function pingWithin(redis: Redis, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      redis.ping().then((r) => r === 'PONG'),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Listens and resolves with the bound port (0 picks a free one). */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
