import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { CountersignError, ErrorCode } from '../../core/errors.js';

/**
 * How long a command on the API's connection may wait for Redis. Redis answers in
 * milliseconds; one that does not answer at all (paused, or cut off by the network with the
 * socket still open) would otherwise leave agents' requests waiting for good: after this they
 * get a 503 problem instead. Queue connections (blocking reads) do without it.
 */
export const COMMAND_TIMEOUT_MS = 5_000;

/** How long a start waits for Redis before it gives up with the reason. */
export const CONNECT_TIMEOUT_MS = 15_000;

/**
 * The process's Redis connection, as `npm start` and `npm run worker` make it: the commands
 * issued in one turn of the event loop leave in one socket write (see {@link batchWrites}), a
 * bounded wait per command, and connection errors logged as JSON lines.
 *
 * Not ioredis's auto-pipelining, which batches through a `Pipeline` object per batch. Each
 * Pipeline defines a `length` accessor on itself, and with it pipelines, their commands and
 * their replies outlived young collections until the next full one (in a copy of ioredis
 * without that one line, a loop of pipelines kept 1.3 % of what it allocated through each
 * scavenge instead of 51 %). In the app at 1,500 redeems a second, 7 MB survived each scavenge
 * (14 % of what was allocated, against 3 % here), scavenges paused it for 7–9 ms, and the
 * redeem's p99 at half capacity was 15 ms instead of 5 ms (BENCHMARKS.md, "Young collections").
 */
export function connectRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 3, enableAutoPipelining: false, commandTimeout: COMMAND_TIMEOUT_MS });
  redis.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis connection error'));
  batchWrites(redis);
  return redis;
}

/**
 * Sends the commands written to `redis` during one turn of the event loop in one socket write,
 * on every connection it makes (a reconnect opens a new socket): the first write of a turn
 * corks the socket, and it is uncorked once that turn's I/O callbacks have run. Each request's
 * round trips then share writes (and Redis's reads) with those of the requests served in the
 * same turn, as with auto-pipelining, and commands still go out in the order they were issued.
 * ioredis writes through `stream.write` only, so wrapping it is all it takes.
 */
export function batchWrites(redis: Redis): void {
  redis.on('connect', () => {
    const socket = redis.stream;
    if (BATCHED.has(socket)) return;
    BATCHED.add(socket);
    const write = socket.write;
    let corked = false;
    const uncork = () => {
      corked = false;
      socket.uncork();
    };
    socket.write = function (this: typeof socket, ...args: Parameters<typeof write>) {
      if (!corked) {
        corked = true;
        socket.cork();
        setImmediate(uncork);
      }
      return write.apply(this, args);
    } as typeof write;
  });
}

const BATCHED = new WeakSet<object>();

/** Errors no reconnect can cure: the start stops and says so. */
const REFUSED = /WRONGPASS|NOAUTH|NOPERM|invalid password|invalid username-password/i;

/**
 * Waits until the connection is ready. Refused credentials end the wait at once, anything else
 * (Redis not there yet) after `timeoutMs`; either way with an error that names REDIS_URL and
 * what Redis said, not an endless wait.
 */
export function whenReady(redis: Redis, timeoutMs = CONNECT_TIMEOUT_MS): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let last = 'no answer';
    const done = (err?: Error) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    const onError = (err: Error) => {
      last = err.message;
      if (REFUSED.test(err.message)) {
        done(new CountersignError(ErrorCode.ConfigInvalid, `REDIS_URL: Redis refused the connection's credentials (${err.message}); check the user name and password in REDIS_URL`));
      }
    };
    const timer = setTimeout(
      () => done(new CountersignError(ErrorCode.StoreUnavailable, `REDIS_URL: Redis did not become ready within ${Math.round(timeoutMs / 1000)} s (last error: ${last})`)),
      timeoutMs,
    );
    redis.on('ready', onReady);
    redis.on('error', onError);
  });
}
