import type { Redis } from 'ioredis';
import { CountersignError, ErrorCode } from '../../core/errors.js';

/**
 * Makes sure the connection uses the database REDIS_URL names. When that database does not
 * exist (`redis://host:6379/99` on a server with 16), ioredis reports the failed SELECT as an
 * error event and carries on in database 0: gates and audit chains would land in another
 * application's keyspace. Other failures (Redis not reachable yet) are left to the usual
 * reconnects and readiness checks.
 */
export async function checkDatabase(redis: Redis): Promise<void> {
  const db = Number(redis.options.db ?? 0);
  if (!Number.isInteger(db) || db === 0) return;
  try {
    await redis.select(db);
  } catch (err) {
    const message = (err as Error).message;
    if (!/DB index|invalid DB|SELECT is not allowed/i.test(message)) return;
    throw new CountersignError(ErrorCode.ConfigInvalid, `REDIS_URL names database ${db}, which this Redis refuses (${message}); name a database it has (0–15 on a default server)`, {
      issues: [{ pointer: 'REDIS_URL', message: `database ${db}: ${message}` }],
    });
  }
}
