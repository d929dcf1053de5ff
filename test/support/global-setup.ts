import { startPrivateRedis } from '../../src/adapters/redis/private-redis.ts';

/**
 * Starts one private redis-server for the whole run, unless REDIS_URL points elsewhere.
 * Each Jest worker uses its own database (see test/support/redis.ts), never database 0.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.REDIS_URL) {
    process.env.COUNTERSIGN_TEST_REDIS_URL = process.env.REDIS_URL;
    return;
  }
  const redis = await startPrivateRedis();
  (globalThis as Record<string, unknown>).__countersignRedis = redis;
  process.env.COUNTERSIGN_TEST_REDIS_URL = redis.url;
}
