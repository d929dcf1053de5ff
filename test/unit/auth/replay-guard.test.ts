import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Redis } from 'ioredis';
import { checkWebhookTimestamp } from '../../../src/adapters/http/auth/standard-webhooks.js';
import { ReplayGuard } from '../../../src/adapters/redis/replay-guard.js';
import { ErrorCode, isCountersignError } from '../../../src/core/errors.js';
import { freshRedis } from '../../support/redis.js';

describe('ReplayGuard (real Redis)', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = await freshRedis();
  });
  afterAll(async () => {
    await redis.quit();
  });

  test('a webhook-id is accepted once per agent', async () => {
    const guard = new ReplayGuard(redis);
    expect(await guard.firstSeen('deploy-bot', 'msg_1')).toBe(true);
    expect(await guard.firstSeen('deploy-bot', 'msg_1')).toBe(false);
    // Ids are the sender's own namespace: another agent may use the same one.
    expect(await guard.firstSeen('ci-runner', 'msg_1')).toBe(true);
    expect(await guard.firstSeen('deploy-bot', 'msg_2')).toBe(true);
  });

  test('the id is remembered for the replay window under a hashed, per-agent key', async () => {
    const guard = new ReplayGuard(redis, 600);
    const hostile = 'msg_}{evil:*';
    expect(await guard.firstSeen('deploy-bot', hostile)).toBe(true);
    const key = ReplayGuard.key('deploy-bot', hostile);
    expect(key).toMatch(/^cs:\{replay:deploy-bot\}:[0-9a-f]{64}$/);
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
  });

  test('the default window outlasts every moment a signed timestamp is accepted', () => {
    const ts = 1_795_500_000;
    const accepted: number[] = [];
    for (let now = ts - 400; now <= ts + 400; now += 0.05) {
      try {
        checkWebhookTimestamp(ts, now);
        accepted.push(now);
      } catch {
        // refused
      }
    }
    // A message first seen at its earliest acceptable moment is remembered after its last.
    const span = accepted.at(-1)! - accepted[0]!;
    expect(span).toBeGreaterThan(600);
    expect(new ReplayGuard(redis).ttlSeconds).toBeGreaterThan(span);
  });

  test('concurrent deliveries of one id: exactly one is first', async () => {
    const guard = new ReplayGuard(redis);
    const answers = await Promise.all(Array.from({ length: 50 }, () => guard.firstSeen('deploy-bot', 'msg_race')));
    expect(answers.filter(Boolean)).toHaveLength(1);
  });

  test('refuses a window that is not a positive whole number of seconds', () => {
    expect(() => new ReplayGuard(redis, 0)).toThrow('replay window');
    expect(() => new ReplayGuard(redis, 1.5)).toThrow('replay window');
  });

  test('fails closed when Redis is unreachable', async () => {
    const { Redis: RedisClient } = await import('ioredis');
    const down = new RedisClient('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    const guard = new ReplayGuard(down);
    const err = await guard.firstSeen('deploy-bot', 'msg_x').catch((e: unknown) => e);
    expect(isCountersignError(err, ErrorCode.StoreUnavailable)).toBe(true);
    down.disconnect();
  });
});
