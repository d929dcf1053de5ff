import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AUDIT_KEYS } from '../../src/adapters/audit/keys.js';
import { DeploymentAuditLog } from '../../src/adapters/audit/deployment-log.js';
import { GateStore } from '../../src/adapters/redis/gate-store.js';
import { gateKeys } from '../../src/adapters/redis/keys.js';
import type { GateChange } from '../../src/app/ports.js';
import { idSource } from '../../src/core/ids.js';
import { pendingGateInput } from '../support/gates.js';
import { freshRedis } from '../support/redis.js';

const ids = idSource((n) => randomBytes(n));
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

let redis: Redis;
beforeAll(async () => {
  redis = await freshRedis();
});
afterAll(async () => {
  await redis.quit();
});

test('one gate whose chain cannot be copied does not hold back the copies of the others', async () => {
  const store = new GateStore(redis);
  const log = new DeploymentAuditLog(redis, { now: () => T0, gatherMs: 0 });
  const bad = ids.gateId(T0);
  const good = ids.gateId(T0);
  await store.create(pendingGateInput(bad, T0));
  await store.create(pendingGateInput(good, T0));
  // One unreadable entry in one gate's chain (what verify reports as `unreadable`).
  await redis.rpush(gateKeys(bad).audit, 'not json');
  const change = (id: string) => ({ gate: { id } }) as unknown as GateChange;
  log.gateChanged(change(bad));
  log.gateChanged(change(good));
  await log.flush();
  // Copied at once, although it shared a batch with the gate that fails; the bad one waits for a retry.
  expect(Number((await redis.hget(AUDIT_KEYS.copied, good)) ?? '0')).toBe(1);
  expect(await redis.hget(AUDIT_KEYS.copied, bad)).toBeNull();
  await log.close();
});

test('the failing gate is tried again, later each time, and copied once its chain is readable', async () => {
  const store = new GateStore(redis);
  const log = new DeploymentAuditLog(redis, { now: () => T0, gatherMs: 0 });
  const bad = ids.gateId(T0);
  await store.create(pendingGateInput(bad, T0));
  const link = (await redis.lrange(gateKeys(bad).audit, 0, -1))[0]!;
  await redis.del(gateKeys(bad).audit);
  await redis.rpush(gateKeys(bad).audit, 'not json');
  log.gateChanged({ gate: { id: bad } } as unknown as GateChange);
  await log.flush();
  expect(await redis.hget(AUDIT_KEYS.copied, bad)).toBeNull();
  // Repaired: the next try (half a second later) copies it without any change of the gate.
  await redis.del(gateKeys(bad).audit);
  await redis.rpush(gateKeys(bad).audit, link);
  const until = Date.now() + 5_000;
  while ((await redis.hget(AUDIT_KEYS.copied, bad)) === null && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  expect(await redis.hget(AUDIT_KEYS.copied, bad)).toBe('1');
  await log.close();
});
