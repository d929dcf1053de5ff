import { afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { connectRedis, whenReady } from '../../src/adapters/redis/connect.js';
import { freshRedis, testRedisUrl } from '../support/redis.js';

// The connection npm start makes: what it sends to Redis, and how.

beforeAll(async () => {
  await (await freshRedis()).quit(); // this file's database, empty
});

const opened: Redis[] = [];
afterEach(() => {
  for (const redis of opened.splice(0)) redis.disconnect();
});

async function connection(): Promise<Redis> {
  const redis = connectRedis(testRedisUrl(), pino({ level: 'silent' }));
  opened.push(redis);
  await whenReady(redis);
  return redis;
}

/** Counts the writes that reach the socket itself (one per write or writev system call). */
function countWrites(socket: Socket): () => number {
  let writes = 0;
  const internals = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
  for (const name of ['_write', '_writev'] as const) {
    const original = internals[name];
    internals[name] = function (this: unknown, ...args: unknown[]) {
      writes += 1;
      return original.apply(this, args);
    };
  }
  return () => writes;
}

/** Counts the pipelines built on `redis` (auto-pipelining builds one per batch). */
function countPipelines(redis: Redis): () => number {
  let made = 0;
  const pipeline = redis.pipeline.bind(redis);
  redis.pipeline = ((...args: Parameters<Redis['pipeline']>) => {
    made += 1;
    return pipeline(...args);
  }) as Redis['pipeline'];
  return () => made;
}

/** 50 SET/GET pairs issued in one turn of the event loop; resolves with the GET replies. */
function oneTurn(redis: Redis, tag: string): Promise<Array<string | null>> {
  const gets: Array<Promise<string | null>> = [];
  for (let i = 0; i < 50; i += 1) {
    void redis.set(`batch:${tag}:${i}`, `${tag}-${i}`);
    gets.push(redis.get(`batch:${tag}:${i}`));
  }
  return Promise.all(gets);
}

const expected = (tag: string) => Array.from({ length: 50 }, (_, i) => `${tag}-${i}`);

describe('the app connection to Redis', () => {
  test('sends the commands of one turn in one write, in the order they were issued, each with its own reply', async () => {
    // Setup
    const redis = await connection();
    const writes = countWrites(redis.stream as Socket);

    // Execution: 100 commands in one turn, then 100 in the next.
    const first = await oneTurn(redis, 'a');
    const afterFirst = writes();
    const second = await oneTurn(redis, 'b');

    // Validation: each GET saw the SET issued just before it, so the order held within the write.
    expect(first).toEqual(expected('a'));
    expect(second).toEqual(expected('b'));
    expect(afterFirst).toBe(1);
    expect(writes()).toBe(2);
  });

  test('builds no pipeline to batch them (auto-pipelining builds one per batch, and they outlive young collections)', async () => {
    const redis = await connection();
    const pipelines = countPipelines(redis);

    expect(await oneTurn(redis, 'c')).toEqual(expected('c'));

    expect(pipelines()).toBe(0);
  });

  test('batches on the new socket after a reconnect, and answers the commands sent there', async () => {
    // Setup: Redis closes the connection; ioredis opens another.
    const redis = await connection();
    const before = redis.stream;
    const admin = new Redis(testRedisUrl());
    try {
      const id = await redis.client('ID');
      const reconnected = new Promise<void>((resolve) => redis.once('ready', () => resolve()));
      await admin.client('KILL', 'ID', String(id));
      await reconnected;
    } finally {
      await admin.quit();
    }
    expect(redis.stream).not.toBe(before);
    const writes = countWrites(redis.stream as Socket);

    // Execution
    const replies = await oneTurn(redis, 'd');

    // Validation
    expect(replies).toEqual(expected('d'));
    expect(writes()).toBe(1);
  });

  test('a QUIT issued after other commands of its turn leaves after them (auto-pipelining sent it first, and they failed: connection closed)', async () => {
    const redis = await connection();
    const set = redis.set('batch:quit', 'sent');
    const quit = redis.quit();

    expect(await set).toBe('OK');
    expect(await quit).toBe('OK');
    const check = new Redis(testRedisUrl());
    try {
      expect(await check.get('batch:quit')).toBe('sent');
    } finally {
      await check.quit();
    }
  });
});
