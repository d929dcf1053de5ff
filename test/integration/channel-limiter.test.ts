import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Redis } from 'ioredis';
import { ChannelLimiter } from '../../src/adapters/queue/channel-limiter.js';
import { freshRedis } from '../support/redis.js';

let redis: Redis;
beforeAll(async () => {
  redis = await freshRedis();
});
afterAll(async () => {
  await redis.quit();
});

const T0 = 1_800_000_000_000;

describe('channel posting slots', () => {
  test('writers that ask at once get one slot each, a second apart, and keep it when they ask again', async () => {
    const limiter = new ChannelLimiter(redis, 1_000);
    // Execution: five posts for one channel at the same instant.
    const first = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((id) => limiter.reserve('C0QUEUE', id, T0)));
    // Validation: the first goes now; the others have their own turn, not one shared next slot.
    expect([...first].sort((x, y) => x - y)).toEqual([0, T0 + 1_000, T0 + 2_000, T0 + 3_000, T0 + 4_000]);
    const turn = new Map(['a', 'b', 'c', 'd', 'e'].map((id, i) => [id, first[i]!]));
    const later = [...turn].find(([, at]) => at === T0 + 3_000)![0];
    // Asking early again keeps the same turn; asking at the turn goes, once.
    expect(await limiter.reserve('C0QUEUE', later, T0 + 1_500)).toBe(T0 + 3_000);
    expect(await limiter.reserve('C0QUEUE', later, T0 + 3_010)).toBe(0);
    // A newcomer queues after everyone, whatever the time it asks.
    expect(await limiter.reserve('C0QUEUE', 'f', T0 + 3_020)).toBe(T0 + 5_000);
    // Another channel is not affected.
    expect(await limiter.reserve('C0OTHER', 'a', T0)).toBe(0);
  });

  test('a hold (429) cancels the turns; writers queue again when it ends', async () => {
    const limiter = new ChannelLimiter(redis, 1_000);
    const waiting = await limiter.reserve('C0HELD', 'x', T0);
    const queued = await limiter.reserve('C0HELD', 'y', T0);
    expect([waiting, queued]).toEqual([0, T0 + 1_000]);
    await limiter.hold('C0HELD', T0 + 10_000, T0 + 500);
    expect(await limiter.reserve('C0HELD', 'y', T0 + 1_000)).toBe(T0 + 10_000);
    // After the hold, y has no ticket left: it takes the next free slot like anyone else.
    expect(await limiter.reserve('C0HELD', 'y', T0 + 10_000)).toBe(0);
    expect(await limiter.reserve('C0HELD', 'z', T0 + 10_000)).toBe(T0 + 11_000);
  });
});
