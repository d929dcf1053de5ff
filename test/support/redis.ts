import { Redis } from 'ioredis';

/**
 * The Redis URL for this test file: the run's private server (or REDIS_URL), on a database
 * chosen by the Jest worker (1–15), never database 0. Files in one worker run one after another,
 * so `freshRedis()` may flush that database.
 */
export function testRedisUrl(): string {
  const base = process.env.COUNTERSIGN_TEST_REDIS_URL;
  if (!base) throw new Error('COUNTERSIGN_TEST_REDIS_URL is not set: run tests through `npm test`');
  const worker = Number(process.env.JEST_WORKER_ID ?? '1');
  const db = 1 + ((worker - 1) % 15);
  const url = new URL(base);
  url.pathname = `/${db}`;
  return url.toString();
}

/** A connection to this file's database, flushed. Close it in afterAll. */
export async function freshRedis(): Promise<Redis> {
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 2, lazyConnect: false });
  await redis.flushdb();
  return redis;
}
