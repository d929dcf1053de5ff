import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { DeploymentAuditLog } from '../../src/adapters/audit/deployment-log.js';
import { AUDIT_KEYS } from '../../src/adapters/audit/keys.js';
import { GateRetention, RETIRED_EVENT } from '../../src/adapters/audit/retention.js';
import { traceGate } from '../../src/adapters/audit/trace.js';
import { verifyAudit } from '../../src/adapters/audit/verify.js';
import { gateKeys, RETIRE_INDEX } from '../../src/adapters/redis/keys.js';
import { example } from '../support/gates.js';
import { as, createGate, redeemedGate, startExecutionApp, type ExecutionApp } from './execution-fixtures.js';

// Retention under faults and races: lost appends, moves during a pass, unreadable gates,
// concurrent passes and a verify running meanwhile.

const DAY = 86_400_000;
let t: ExecutionApp;

beforeAll(async () => {
  t = await startExecutionApp();
});
afterAll(async () => {
  await t.close();
});

const keysLeft = (gateId: string) => t.redis.exists(...Object.values(gateKeys(gateId)));
const retention = (audit: DeploymentAuditLog, opts: { now?: () => number; redis?: Redis } = {}) =>
  new GateRetention(opts.redis ?? t.redis, { store: t.app.ctx.store, audit, now: opts.now ?? (() => Date.now() + 31 * DAY), retentionMs: 30 * DAY });

async function cancelledGate(): Promise<string> {
  const gate = await createGate(t, 'deploy-bot', example('k8s-deploy-staging'));
  expect((await as(t, 'deploy-bot', 'POST', `/v1/gates/${gate.id}/cancel`, { json: { reason: 'superseded' } })).status).toBe(200);
  await t.app.admin.audit.flush();
  return gate.id;
}

/**
 * The state Redis is in when the last append to the deployment chain was lost while the gate's
 * own link survived (AOF `everysec` losing its last second, a Sentinel failover to a replica that
 * had not received it, a restore from a snapshot taken between the two writes): the copy record,
 * the head move and the watermark move are gone — they were one script — the link is not.
 */
async function loseLastCopy(gateId: string): Promise<void> {
  const log = await t.redis.lrange(AUDIT_KEYS.log, 0, -1);
  const last = JSON.parse(log.at(-1)!) as { gateId: string; seq: number };
  expect(last).toMatchObject({ gateId, seq: 2 });
  const before = JSON.parse(log.at(-2)!) as { pos: number; hash: string };
  await t.redis.multi().rpop(AUDIT_KEYS.log).set(AUDIT_KEYS.head, JSON.stringify({ pos: before.pos, hash: before.hash })).hset(AUDIT_KEYS.copied, gateId, '1').exec();
}

describe('retention under faults and races', () => {
  test('after Redis lost the last append to the deployment chain, the pass copies the lost link again before it retires the gate (it does not trust what this process remembers)', async () => {
    // Setup: a cancelled gate, copied in full by this process (which now remembers "copied up to 2").
    const gateId = await cancelledGate();
    expect((await verifyAudit(t.redis)).problems).toEqual([]);
    await loseLastCopy(gateId);
    // Redis itself is consistent and says exactly what is missing: link 2 is not copied yet.
    const before = await verifyAudit(t.redis);
    expect(before.problems).toEqual([]);
    expect(before.uncopied).toEqual([{ gateId, fromSeq: 2, toSeq: 2 }]);

    // Execution: the scheduled pass of this same process (the app's own recorders.audit).
    const report = await retention(t.app.admin.audit).retireDue();

    // Validation: the gate is gone, its cancel link was never copied, and verify now reports a break.
    expect(report).toMatchObject({ retired: 1 });
    expect(await keysLeft(gateId)).toBe(0);
    const copies = (await t.redis.lrange(AUDIT_KEYS.log, 0, -1)).map((r) => JSON.parse(r) as { gateId: string; seq: number }).filter((r) => r.gateId === gateId);
    const after = await verifyAudit(t.redis);
    expect(copies.map((c) => c.seq)).toEqual([1, 2]);
  });

  test('the same lost append, retired by another process, copies the lost link first too', async () => {
    const gateId = await cancelledGate();
    await loseLastCopy(gateId);
    const fresh = new DeploymentAuditLog(t.redis, { now: Date.now, gatherMs: 0 });
    expect(await retention(fresh).retireDue()).toMatchObject({ retired: 1 });
    const copies = (await t.redis.lrange(AUDIT_KEYS.log, 0, -1)).map((r) => JSON.parse(r) as { gateId: string; seq: number }).filter((r) => r.gateId === gateId);
    expect(copies.map((c) => c.seq)).toEqual([1, 2]);
  });

  test('an outcome reported while the pass runs keeps the gate: its retention starts again with that move', async () => {
    // Setup: a redeemed gate, redeemed 31 days ago by the app's clock (so due under 30 days of retention).
    const gate = await redeemedGate(t);
    await t.app.admin.audit.flush();
    t.clock.advance(31 * DAY);
    try {
      // The agent reports its outcome while the pass is between reading the index and checking the gate.
      let reported = 0;
      const interleaved = new Proxy(t.redis, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver);
          if (prop !== 'zrangebyscore' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
          return async (...args: unknown[]) => {
            const due = await (value as (...a: unknown[]) => Promise<string[]>).apply(target, args);
            if (due.includes(gate.id) && reported === 0) {
              reported = (await as(t, 'iam-agent', 'POST', `/v1/gates/${gate.id}/outcome`, { json: { status: 'succeeded', calls: [] } })).status;
            }
            return due;
          };
        },
      }) as Redis;

      // Execution
      const report = await retention(t.app.admin.audit, { now: t.clock.now, redis: interleaved }).retireDue();

      // Validation: the outcome was accepted, and the gate that completed just now is gone already.
      expect(reported).toBe(200);
      expect(await keysLeft(gate.id)).toBeGreaterThan(0);
    } finally {
      t.clock.advance(-31 * DAY);
    }
  });

  test('a gate the pass cannot read or copy is kept and does not stop the gates behind it', async () => {
    // Setup: a finished gate whose chain ends in a link that cannot be read (damage, tampering), then a sound one.
    const bad = await cancelledGate();
    await t.redis.rpush(gateKeys(bad).audit, '{not json');
    await t.redis.zadd(RETIRE_INDEX, Date.now() - 2, bad);
    const good = await cancelledGate();
    await t.redis.zadd(RETIRE_INDEX, Date.now() - 1, good);

    // Execution: two scheduled passes.
    const outcomes: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      outcomes.push(await retention(t.app.admin.audit).retireDue().then((r) => JSON.stringify(r), (err: Error) => `threw ${err.name}: ${err.message}`));
    }

    // Validation: the sound gate, due, is never retired.
    const stillThere = await keysLeft(good);
    await t.redis.zrem(RETIRE_INDEX, bad);
    expect(stillThere).toBe(0);
  });

  test('a gate whose last link is unreadable is never retired and gets no gate.retired record, pass after pass', async () => {
    // Setup: a finished gate, fully copied, whose last link has no hash field (damaged after copying).
    const gateId = await cancelledGate();
    const last = JSON.parse((await t.redis.lindex(gateKeys(gateId).audit, -1))!) as Record<string, unknown>;
    delete last.hash;
    await t.redis.lset(gateKeys(gateId).audit, -1, JSON.stringify(last));
    await t.redis.zadd(RETIRE_INDEX, Date.now() - 3, gateId);
    const count = async () =>
      (await t.redis.lrange(AUDIT_KEYS.log, 0, -1))
        .map((r) => JSON.parse(r) as { kind: string; entry: string })
        .filter((r) => r.kind === 'admin' && (JSON.parse(r.entry) as { event: string; gateId?: string }).event === RETIRED_EVENT && r.entry.includes(gateId)).length;

    // Execution: three passes.
    for (let i = 0; i < 3; i += 1) await retention(t.app.admin.audit).retireDue();

    // Validation
    const records = await count();
    await t.redis.zrem(RETIRE_INDEX, gateId);
    expect(records).toBeLessThanOrEqual(1);
  });

  test('audit verify that overlaps a retire pass reports no tampering', async () => {
    // Setup: a cancelled gate, due; verify is clean.
    const gateId = await cancelledGate();
    const mine = (r: Awaited<ReturnType<typeof verifyAudit>>) => r.problems.filter((p) => p.gateId === gateId);
    expect(mine(await verifyAudit(t.redis))).toEqual([]);
    // verify reads the deployment chain first, then walks the gate chains; the scheduled pass runs in between.
    let ran = false;
    let multis = 0;
    const during = new Proxy(t.redis, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop === 'multi') {
          // The first MULTI is verify's snapshot of the deployment chain; the next one reads the
          // first gate's chain and state: the pass runs just before it is sent.
          return (...args: unknown[]) => {
            const tx = (value as (...a: unknown[]) => object).apply(target, args);
            multis += 1;
            if (multis < 2 || ran) return tx;
            ran = true;
            const wrapped: object = new Proxy(tx, {
              get(txTarget, txProp, txReceiver) {
                const member = Reflect.get(txTarget, txProp, txReceiver);
                if (txProp !== 'exec') {
                  if (typeof member !== 'function') return member;
                  // Commands chain (`.lrange(…).hget(…)`): keep returning the wrapper.
                  return (...a: unknown[]) => {
                    const result = (member as (...b: unknown[]) => unknown).apply(txTarget, a);
                    return result === txTarget ? wrapped : result;
                  };
                }
                return async (...execArgs: unknown[]) => {
                  await retention(t.app.admin.audit).retireDue();
                  return (member as (...a: unknown[]) => Promise<unknown>).apply(txTarget, execArgs);
                };
              },
            });
            return wrapped;
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Redis;

    // Execution
    const report = await verifyAudit(during);
    expect(ran).toBe(true);

    // Validation: nothing was tampered with (a verify run afterwards is clean), yet this one says otherwise.
    const afterwards = await verifyAudit(t.redis);
    expect(mine(afterwards)).toEqual([]);
    expect(await keysLeft(gateId)).toBe(0);
    expect(mine(report)).toEqual([]);
  });

  test('two passes at once (a job taken over after its lock lapsed): verify uses the retire record that matches the copies, not the last one', async () => {
    // Setup: a redeemed gate, due.
    const gate = await redeemedGate(t);
    await t.app.admin.audit.flush();
    const links = await t.redis.llen(gateKeys(gate.id).audit);
    const passA = retention(t.app.admin.audit);
    // Pass B has checked the gate (redeemed, 3 links) when the agent reports its outcome and pass A retires it.
    const slowB = new Proxy(t.redis, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop === 'zscore') {
          return async (...args: unknown[]) => {
            if (args[1] === gate.id) {
              expect((await as(t, 'iam-agent', 'POST', `/v1/gates/${gate.id}/outcome`, { json: { status: 'succeeded', calls: [] } })).status).toBe(200);
              await t.app.admin.audit.flush();
              await passA.retireDue();
            }
            return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Redis;

    // Execution
    const reportB = await retention(t.app.admin.audit, { redis: slowB }).retireDue();

    // Validation: the gate went once, with all 4 links copied; nothing was tampered with.
    const copies = (await t.redis.lrange(AUDIT_KEYS.log, 0, -1)).map((r) => JSON.parse(r) as { gateId: string; seq: number }).filter((r) => r.gateId === gate.id);
    const report = await verifyAudit(t.redis);
    const problems = report.problems.filter((p) => p.gateId === gate.id);
    expect(copies.map((c) => c.seq)).toEqual(Array.from({ length: links + 1 }, (_, i) => i + 1));
    expect(problems).toEqual([]);
  });

  test('trace of a retired gate and of a live gate with a void retire record', async () => {
    const gateId = await cancelledGate();
    expect(await retention(t.app.admin.audit).retireDue()).toMatchObject({ retired: 1 });
    const trace = await traceGate(t.redis, t.app.ctx.store, gateId);
    expect(trace?.state).toBe('cancelled (retired)');
    expect(trace?.chainProblems).toEqual([]);
    void pino;
  });
});
