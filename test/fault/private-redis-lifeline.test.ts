import { describe, expect, test } from '@jest/globals';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startPrivateRedis } from '../../src/adapters/redis/private-redis.js';
import { eventually } from '../support/slack.js';
import { spawnEntry } from './fault-support.js';

// The private Redis of `npm start` and `npm run demo` (no REDIS_URL) lives only as long as the
// process that started it, however that process ends.

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the private redis-server', () => {
  test('ends when the process that started it is killed with SIGKILL (no chance to stop it)', async () => {
    // Setup
    const child = await spawnEntry('child-private-redis.ts', {});
    const [pidText, dir] = child.info.split(' ');
    const pid = Number(pidText);
    expect(alive(pid)).toBe(true);
    // Execution
    await child.kill('SIGKILL');
    // Validation
    await eventually(() => !alive(pid), 5_000);
    // Nothing could remove its directory: the test does.
    if (dir?.includes('countersign-redis-')) rmSync(dir, { recursive: true, force: true });
  });

  test('stop() ends it and removes its directory; a paused server is killed after the grace period', async () => {
    const redis = await startPrivateRedis();
    const client = new Redis(redis.url);
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
    redis.kill('SIGSTOP');
    const started = Date.now();
    await redis.stop();
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_000);
    expect(alive(redis.pid)).toBe(false);
  }, 15_000);
});
