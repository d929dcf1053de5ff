import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { WebClient } from '@slack/web-api';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { GroupChanges } from '../../src/adapters/slack/group-changes.js';
import { ReviewerDirectory } from '../../src/adapters/slack/reviewer-directory.js';
import { freshRedis } from '../support/redis.js';
import { eventually } from '../support/slack.js';

// The subscription that carries user group changes between processes drops (a Redis restart,
// a killed connection): once it is back, every group is read from Slack again, and changes
// announced from then on arrive.

const SET = { id: 'security', channel: 'C0000000', usergroups: [{ id: 'S0SECURITY' }], users: [] };

let redis: Redis;
beforeAll(async () => {
  redis = await freshRedis();
});
afterAll(async () => {
  await redis.quit();
});

test('after the subscription reconnects, cached groups are forgotten and new changes arrive', async () => {
  let reads = 0;
  const client = { usergroups: { users: { list: async () => ((reads += 1), { ok: true, users: ['U1'] }) } } } as unknown as WebClient;
  const directory = new ReviewerDirectory(client);
  const changes = await GroupChanges.start(redis, [directory], pino({ level: 'silent' }));
  try {
    await directory.members(SET);
    await directory.members(SET);
    expect(reads).toBe(1);
    // This subscriber's connection is cut (by its name and database: other test files share the
    // server); ioredis reconnects it.
    const db = redis.options.db ?? 0;
    const list = String(await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
    const ids = list
      .split('\n')
      .filter((line) => line.includes('name=countersign-usergroup-changes') && line.includes(`db=${db} `))
      .map((line) => /\bid=(\d+)/.exec(line)?.[1])
      .filter((id): id is string => id !== undefined);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) await redis.call('CLIENT', 'KILL', 'ID', id);
    await eventually(async () => {
      await directory.members(SET);
      return reads >= 2;
    }, 5_000);
    // Cached again; a change announced by another process now reaches this one.
    await directory.members(SET);
    const before = reads;
    await redis.publish(`cs:usergroups-changed:${redis.options.db ?? 0}`, 'S0SECURITY');
    await eventually(async () => {
      await directory.members(SET);
      return reads > before;
    }, 5_000);
  } finally {
    await changes.close();
  }
});
