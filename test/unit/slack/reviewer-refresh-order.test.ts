import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadPolicySet } from '../../../src/adapters/policy/load.js';
import { GateStore } from '../../../src/adapters/redis/gate-store.js';
import { SlackBroker } from '../../../src/adapters/slack/slack-broker.js';
import type { ReviewerDirectory } from '../../../src/adapters/slack/reviewer-directory.js';
import type { SlackWrites } from '../../../src/adapters/slack/slack-writes.js';
import { idSource } from '../../../src/core/ids.js';
import { POLICIES_DIR } from '../../support/app.js';
import { pendingGateInput, reviewDecision } from '../../support/gates.js';
import { freshRedis } from '../../support/redis.js';

const ids = idSource((n) => randomBytes(n));
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
const GROUP = 'S07U33XTPLP';

let redis: Redis;
beforeAll(async () => {
  redis = await freshRedis();
});
afterAll(async () => {
  await redis.quit();
});

test('two reviewer refreshes of one gate run one after the other: the newest membership is what stays', async () => {
  const store = new GateStore(redis);
  const policy = await loadPolicySet(POLICIES_DIR);
  const id = ids.gateId(T0);
  await store.create(pendingGateInput(id, T0, { decision: reviewDecision({ review: { ...reviewDecision().review!, reviewerSet: 'data-owners' } }) }));
  await store.setReviewers(id, new Map([['U_CHLOE', 'data-governance'], ['U_LEO', 'data-governance']]));
  // The first refresh's read of the group left before leo was removed and answers late; the
  // second (Slack's event for his removal) reads the group after it.
  let releaseFirst!: (m: Map<string, string | undefined>) => void;
  let calls = 0;
  const directory = {
    members: () => {
      calls += 1;
      if (calls === 1) return new Promise<Map<string, string | undefined>>((resolve) => (releaseFirst = resolve));
      return Promise.resolve(new Map([['U_CHLOE', 'data-governance']]));
    },
  } as unknown as ReviewerDirectory;
  const broker = new SlackBroker({ writes: {} as SlackWrites, directory, store, policy: () => policy, now: () => T0, logger: pino({ level: 'silent' }) });

  const first = broker.groupChanged(GROUP, [id]);
  await new Promise((r) => setTimeout(r, 50));
  const second = broker.groupChanged(GROUP, [id]);
  releaseFirst(new Map([['U_CHLOE', 'data-governance'], ['U_LEO', 'data-governance']]));
  await Promise.all([first, second]);
  expect((await store.reviewers(id)).has('U_LEO')).toBe(false);
  expect((await store.reviewers(id)).has('U_CHLOE')).toBe(true);
});
