import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { GateStore, type AuditLink } from '../../src/adapters/redis/gate-store.js';
import { gateKeys } from '../../src/adapters/redis/keys.js';
import { canonicalJson } from '../../src/core/evidence-hash.js';
import { isCountersignError } from '../../src/core/errors.js';
import { idSource } from '../../src/core/ids.js';
import { pendingGateInput } from '../support/gates.js';
import { freshRedis } from '../support/redis.js';

const ids = idSource((n) => randomBytes(n));
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

let redis: Redis;
let store: GateStore;

beforeAll(async () => {
  redis = await freshRedis();
  store = new GateStore(redis);
});
afterAll(async () => {
  await redis.quit();
});

async function newPendingGate(reviewWindowMs = 900_000) {
  const { gate } = await store.create(pendingGateInput(ids.gateId(T0), T0, { reviewDeadline: T0 + reviewWindowMs }));
  return gate;
}

/** Recomputes a link independently of the product's verifier. */
function chainHash(link: AuditLink): string {
  expect(createHash('sha256').update(link.entry).digest('hex')).toBe(link.digest);
  const input = Buffer.concat([Buffer.from(link.prev, 'hex'), Buffer.from(link.digest, 'hex'), Buffer.from(`${link.seq}\n${link.from}\n${link.to}`)]);
  return createHash('sha256').update(input).digest('hex');
}

describe('GateStore', () => {
  test('creates a gate once; a second create with the same id changes nothing', async () => {
    const gate = await newPendingGate();
    expect(gate).toMatchObject({ state: 'pending_review', version: 1, agentId: 'terraform-bot' });
    const again = await store.create({ ...gate, state: 'approved', audit: { event: 'create', actor: 'x', at: T0 } });
    expect(again.created).toBe(false);
    expect(again.gate.state).toBe('pending_review');
    expect(await store.auditTrail(gate.id)).toHaveLength(1);
  });

  test('a create handed the request as canonical text stores that text; both ways read back the same gate', async () => {
    const plain = pendingGateInput(ids.gateId(T0), T0);
    const handed = { ...pendingGateInput(ids.gateId(T0), T0), requestJson: canonicalJson(plain.request) };
    await store.create(plain);
    await store.create(handed);
    const record = await redis.hget(gateKeys(handed.id).gate, 'record');
    expect(record).toContain(`"request":${handed.requestJson},`);
    expect(JSON.parse(record!)).toEqual(JSON.parse((await redis.hget(gateKeys(plain.id).gate, 'record'))!.replace(plain.id, handed.id)));
    const [a, b] = [await store.get(plain.id, T0), await store.get(handed.id, T0)];
    expect(b!.request).toEqual(plain.request);
    expect({ ...b, id: plain.id }).toEqual(a);
  });

  test('an audit entry is stored as written, members in order, and digested over those bytes', async () => {
    const audit = { event: 'create', actor: 'agent:terraform-bot', at: T0, zeta: 'ünïcödé', alpha: { z: 1, a: [2, 1] } };
    const { gate } = await store.create(pendingGateInput(ids.gateId(T0), T0, { audit }));
    const [link] = await store.auditTrail(gate.id);
    expect(link!.entry).toBe(JSON.stringify(audit));
    expect(link!.digest).toBe(createHash('sha256').update(JSON.stringify(audit), 'utf8').digest('hex'));
    expect(link!.hash).toBe(chainHash(link!));
  });

  test('an audit entry JSON cannot carry refuses the create and stores nothing', async () => {
    const id = ids.gateId(T0);
    await expect(store.create(pendingGateInput(id, T0, { audit: { event: 'create', actor: 'x', at: T0, score: Number.NaN } }))).rejects.toMatchObject({ code: 'ERR_NOT_CANONICALIZABLE' });
    expect(await redis.exists(gateKeys(id).gate, gateKeys(id).audit)).toBe(0);
  });

  test('the audit chain computed in Lua is real SHA-256 over the recorded bytes', async () => {
    const gate = await newPendingGate();
    await store.transition(gate.id, { event: 'cancel', now: T0 + 1000, audit: { event: 'cancel', actor: 'agent:terraform-bot', at: T0 + 1000, note: 'ünïcödé ✓ '.repeat(40) } });
    const trail = await store.auditTrail(gate.id);
    expect(trail.map((l) => [l.from, l.to])).toEqual([['', 'pending_review'], ['pending_review', 'cancelled']]);
    expect(trail[0]!.prev).toBe('0'.repeat(64));
    expect(trail[1]!.prev).toBe(trail[0]!.hash);
    for (const link of trail) expect(link.hash).toBe(chainHash(link));
  });

  test('the Lua SHA-256 matches node:crypto across block boundaries', async () => {
    // Entry lengths around the 55/56/64-byte padding edges exercise every padding branch.
    let now = T0 + 10;
    for (const len of [1, 2, 3, 55, 56, 57, 63, 64, 65, 200, 5000]) {
      const gate = await newPendingGate();
      now += 1;
      await store.transition(gate.id, { event: 'cancel', now, audit: { event: 'cancel', actor: 'a', at: now, pad: 'x'.repeat(len) } });
      const trail = await store.auditTrail(gate.id);
      expect(trail).toHaveLength(2);
      for (const link of trail) expect(link.hash).toBe(chainHash(link));
    }
  });

  test('a legal move bumps the version; the same final event twice is a no-op; another is a conflict', async () => {
    const gate = await newPendingGate();
    const moved = await store.transition(gate.id, { event: 'cancel', now: T0 + 1, audit: { event: 'cancel', actor: 'a', at: T0 + 1 } });
    expect(moved).toMatchObject({ kind: 'moved', from: 'pending_review' });
    expect(moved.gate).toMatchObject({ state: 'cancelled', version: 2 });
    const again = await store.transition(gate.id, { event: 'cancel', now: T0 + 2, audit: { event: 'cancel', actor: 'a', at: T0 + 2 } });
    expect(again.kind).toBe('noop');
    await expect(store.transition(gate.id, { event: 'approve', now: T0 + 3, audit: { event: 'approve', actor: 'a', at: T0 + 3 } })).rejects.toMatchObject({
      code: 'ERR_GATE_CONFLICT',
    });
    expect(await store.auditTrail(gate.id)).toHaveLength(2);
  });

  test('a passed deadline expires the gate inside the script, even with no timer', async () => {
    const gate = await newPendingGate(60_000);
    let caught: unknown;
    try {
      await store.transition(gate.id, { event: 'approve', now: T0 + 60_000, audit: { event: 'approve', actor: 'u', at: T0 + 60_000 } });
    } catch (err) {
      caught = err;
    }
    expect(isCountersignError(caught, 'ERR_DEADLINE_PASSED')).toBe(true);
    const after = await store.read(gate.id);
    expect(after).toMatchObject({ state: 'expired', resolution: { event: 'expire', actor: 'system:deadline' } });
    const trail = await store.auditTrail(gate.id);
    expect(trail.at(-1)).toMatchObject({ from: 'pending_review', to: 'expired' });
  });

  test('reading after the deadline shows the gate expired', async () => {
    const gate = await newPendingGate(60_000);
    expect((await store.get(gate.id, T0 + 59_999))?.state).toBe('pending_review');
    expect((await store.get(gate.id, T0 + 60_000))?.state).toBe('expired');
  });

  test('an expiry that arrives early is refused; one that arrives late applies once', async () => {
    const gate = await newPendingGate(60_000);
    await expect(store.transition(gate.id, { event: 'expire', now: T0 + 10, audit: { event: 'expire', actor: 'timer', at: T0 + 10 } })).rejects.toMatchObject({ code: 'ERR_GATE_CONFLICT' });
    const late = await store.transition(gate.id, { event: 'expire', now: T0 + 3_600_000, audit: { event: 'expire', actor: 'timer', at: T0 + 3_600_000 } });
    expect(late.kind).toBe('moved');
    const twice = await store.transition(gate.id, { event: 'expire', now: T0 + 3_600_001, audit: { event: 'expire', actor: 'timer', at: T0 + 3_600_001 } });
    expect(twice.kind).toBe('noop');
  });

  test('50 concurrent cancels and approvals produce exactly one transition', async () => {
    const gate = await newPendingGate();
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        store.transition(gate.id, {
          event: i % 2 ? 'cancel' : 'deny',
          now: T0 + 5,
          audit: { event: i % 2 ? 'cancel' : 'deny', actor: `u${i}`, at: T0 + 5 },
        }),
      ),
    );
    const moved = results.filter((r) => r.status === 'fulfilled' && r.value.kind === 'moved');
    expect(moved).toHaveLength(1);
    expect(await store.auditTrail(gate.id)).toHaveLength(2);
  });

  test('unknown gates are not found', async () => {
    expect(await store.get('g_00000000000000000000000000', T0)).toBeUndefined();
    await expect(store.transition('g_00000000000000000000000000', { event: 'cancel', now: T0, audit: { event: 'cancel', actor: 'a', at: T0 } })).rejects.toMatchObject({ code: 'ERR_GATE_NOT_FOUND' });
  });
});
