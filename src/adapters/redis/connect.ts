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
 * The process's Redis connection, as `npm start` and `npm run worker` make it: auto-pipelining
 * (the commands of concurrent requests go out in one write; scripts are defined before traffic,
 * see defineScripts), a bounded wait per command, and connection errors logged as JSON lines.
 */
export function connectRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 3, enableAutoPipelining: true, commandTimeout: COMMAND_TIMEOUT_MS });
  redis.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis connection error'));
  return redis;
}

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
