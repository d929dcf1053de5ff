import type { PrivateRedis } from '../../src/adapters/redis/private-redis.ts';

export default async function globalTeardown(): Promise<void> {
  const redis = (globalThis as Record<string, unknown>).__countersignRedis as PrivateRedis | undefined;
  await redis?.stop();
}
