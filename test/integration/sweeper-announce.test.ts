import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { AUDIT_KEYS } from '../../src/adapters/audit/keys.js';
import { Sweeper } from '../../src/adapters/queue/sweeper.js';
import type { GateChange } from '../../src/app/ports.js';
import { shortGate, startJobsApp, type JobsApp } from './jobs-support.js';

// An expiry the sweeper applied (actor system:sweeper) whose process died between the move and
// the announcement is announced by the next sweep: Slack, the agent's callback, the deployment
// chain and the figures all hear of it once.

let t: JobsApp;
const changes: GateChange[] = [];

beforeAll(async () => {
  // No workers in this process: the test runs the sweeper itself, as a worker would.
  t = await startJobsApp({ background: { runWorkers: false } });
  t.app.ctx.observers.push({ gateChanged: (c) => void changes.push(c) });
});
afterAll(async () => {
  await t.close();
});

function sweeper(ctx: typeof t.app.ctx) {
  return new Sweeper({ ctx, redis: t.redis, timers: t.app.background.timers, timerQueue: t.app.background.queues.timers, options: { graceMs: 0, batch: 10 } });
}

describe('a sweeper expiry interrupted before its announcement', () => {
  test('is announced by the next sweep, once', async () => {
    const gate = await shortGate(t, { name: 'iam-attach-admin-policy', agent: 'iam-agent', windowSeconds: 1 });
    await new Promise((r) => setTimeout(r, 1_500));
    await t.app.admin.audit.flush();

    // The worker "dies" right after the transition: the log line between the move and notify() throws.
    const dying = { ...t.app.ctx, logger: Object.assign(Object.create(t.app.ctx.logger), { info: () => { throw new Error('SIGKILL'); } }) };
    await expect(sweeper(dying).sweepOverdue()).rejects.toThrow('SIGKILL');
    expect((await t.app.ctx.store.read(gate.id))?.state).toBe('expired');

    // A new worker sweeps: it announces what the dead one left.
    const next = sweeper(t.app.ctx);
    await next.sweepOverdue();
    await next.sweepOverdue();
    await t.app.admin.audit.flush();
    expect(changes.filter((c) => c.gate.id === gate.id && c.event === 'expire')).toHaveLength(1);
    expect(await t.app.ctx.store.expiryAnnounced(gate.id)).toBe(true);
    const copies = (await t.redis.lrange(AUDIT_KEYS.log, 0, -1)).map((r) => JSON.parse(r) as { gateId: string; seq: number }).filter((r) => r.gateId === gate.id);
    expect(copies.map((r) => r.seq)).toEqual([1, 2]);
    expect(await t.redis.hlen('cs:timers:inflight:sweeper')).toBe(0);
  });
});
