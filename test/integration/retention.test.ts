import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { AUDIT_KEYS } from '../../src/adapters/audit/keys.js';
import { GateRetention, RETIRABLE_STATES, RETIRED_EVENT } from '../../src/adapters/audit/retention.js';
import { POST_HOC_OPEN, postHocRecordKey } from '../../src/adapters/admin/post-hoc-reviews.js';
import { gateKeys, RETIRE_INDEX } from '../../src/adapters/redis/keys.js';
import { submitGate } from '../../src/app/submit-gate.js';
import { auditCommand, traceCommand } from '../../src/cli/audit.js';
import { example } from '../support/gates.js';
import { runAuditCli } from '../support/audit-cli.js';
import { eventually } from '../support/slack.js';
import { as, createGate, introspect, redeemedGate, startExecutionApp, type ExecutionApp } from './execution-fixtures.js';

// Retention: finished gates leave Redis a set time after their final move; the audit trail keeps
// every link of them in the deployment chain, and verify and trace still work on them.

let t: ExecutionApp;
const DAY = 86_400_000;

beforeAll(async () => {
  t = await startExecutionApp();
});
afterAll(async () => {
  await t.close();
});

const cli = runAuditCli;

/** A retention pass as the scheduled job runs it, on a clock `aheadMs` in the future. */
function retention(aheadMs: number, retentionMs = 30 * DAY, batch?: number) {
  return new GateRetention(t.redis, { store: t.app.ctx.store, audit: t.app.admin.audit, now: () => Date.now() + aheadMs, retentionMs, ...(batch ? { batch } : {}) });
}

/** Waits until the app's observer has written the gate to the retire index. */
const indexed = (gateId: string) => eventually(async () => (await t.redis.zscore(RETIRE_INDEX, gateId)) !== null, 3_000);

const keysLeft = async (gateId: string) => t.redis.exists(...Object.values(gateKeys(gateId)));

/** A gate that went the whole way: request → two approvals → grant → introspected → outcome. */
async function completedGate(): Promise<string> {
  const gate = await redeemedGate(t);
  expect((await introspect(t, 'iam-broker', gate.grant)).body.active).toBe(true);
  const outcome = await as(t, 'iam-agent', 'POST', `/v1/gates/${gate.id}/outcome`, { json: { status: 'succeeded', calls: [] } });
  expect(outcome.status).toBe(200);
  return gate.id;
}

describe('gate retention', () => {
  test('finished gates past their retention leave Redis; waiting ones stay; verify and trace still account for them', async () => {
    // Setup: a completed gate, a cancelled one, one waiting for review, and one approved by policy.
    const completed = await completedGate();
    const cancelled = await createGate(t, 'deploy-bot', example('k8s-deploy-staging'));
    expect((await as(t, 'deploy-bot', 'POST', `/v1/gates/${cancelled.id}/cancel`, { json: { reason: 'superseded' } })).status).toBe(200);
    const waiting = await createGate(t, 'terraform-bot', example('terraform-apply-prod'));
    const approved = await createGate(t, 'deploy-bot', example('k8s-deploy-staging'));
    expect([waiting.state, approved.state]).toEqual(['pending_review', 'approved']);
    const linksOf = async (id: string) => (await t.app.ctx.store.auditTrail(id)).length;
    const completedLinks = await linksOf(completed);
    await t.app.admin.audit.flush();
    // The app (default retention, 90 days) indexed the two finished gates as they finished (written a quarter second later), and runs the pass on a schedule.
    await indexed(completed);
    await indexed(cancelled.id);
    expect(await t.redis.zscore(RETIRE_INDEX, waiting.id)).toBeNull();
    expect(await t.app.background.queues.timers.getJobScheduler('retire')).toMatchObject({ name: 'retire' });

    // A break-glass review record whose review is over (not in the open set).
    await t.redis.hset(postHocRecordKey(completed), 'record', '{}');

    // Execution: a day later nothing is due; 31 days later (retention 30 days) the two finished gates are.
    expect(await retention(DAY).retireDue()).toEqual({ retired: 0, kept: 0, dropped: 0 });
    expect(await retention(31 * DAY).retireDue()).toMatchObject({ retired: 2, kept: 0 });

    // Validation: every key of the finished gates is gone, the others are whole.
    expect(await keysLeft(completed)).toBe(0);
    expect(await keysLeft(cancelled.id)).toBe(0);
    expect(await t.redis.exists(postHocRecordKey(completed))).toBe(0);
    expect((await t.app.ctx.store.read(waiting.id))?.state).toBe('pending_review');
    expect((await t.app.ctx.store.read(approved.id))?.state).toBe('approved');
    expect(await t.redis.zscore(RETIRE_INDEX, completed)).toBeNull();
    expect(await t.redis.hget(AUDIT_KEYS.copied, completed)).toBeNull();
    // The agent reads a retired gate as unknown.
    expect((await as(t, 'deploy-bot', 'GET', `/v1/gates/${cancelled.id}`)).status).toBe(404);
    // The deployment chain recorded each retirement, with the gate's links and last hash.
    const records = (await t.redis.lrange(AUDIT_KEYS.log, 0, -1)).map((r) => JSON.parse(r) as { kind: string; gateId: string; entry: string });
    const retiredEntries = records.filter((r) => r.kind === 'admin').map((r) => JSON.parse(r.entry)).filter((e) => e.event === RETIRED_EVENT);
    expect(retiredEntries.find((e) => e.gateId === completed)).toMatchObject({ state: 'completed', links: completedLinks, actor: 'system:retention' });
    expect(records.filter((r) => r.kind === 'gate' && r.gateId === completed)).toHaveLength(completedLinks);
    const verified = await cli(auditCommand, ['verify']);
    expect(verified.out).toMatch(/0 problems/);
    expect(verified.code).toBe(0);
    const traced = await cli(traceCommand, [completed]);
    expect(traced.code).toBe(0);
    expect(traced.out).toMatch(new RegExp(`gate ${completed} · completed \\(retired\\) · ${completedLinks} audit links · chain intact`));
    for (const step of ['intent', 'policy', 'vote', 'approval', 'grant', 'outcome', 'retired']) expect(traced.out).toMatch(new RegExp(`^${step} `, 'm'));
  });

  test('a retired gate whose copies were cut from the deployment chain is reported by verify and trace', async () => {
    // Setup: a cancelled gate, retired.
    const gate = await createGate(t, 'deploy-bot', example('k8s-deploy-staging'));
    expect((await as(t, 'deploy-bot', 'POST', `/v1/gates/${gate.id}/cancel`, { json: {} })).status).toBe(200);
    await t.app.admin.audit.flush();
    await indexed(gate.id);
    expect(await retention(31 * DAY).retireDue()).toMatchObject({ retired: 1 });
    expect((await cli(auditCommand, ['verify'])).code).toBe(0);

    // Execution: its last copy (the cancel) is rewritten to claim another link hash, as if the chain were rebuilt without it.
    const raw = await t.redis.lrange(AUDIT_KEYS.log, 0, -1);
    const index = raw.findIndex((r) => {
      const rec = JSON.parse(r) as { gateId: string; seq: number };
      return rec.gateId === gate.id && rec.seq === 2;
    });
    const original = raw[index]!;
    await t.redis.lset(AUDIT_KEYS.log, index, original.replace(/"gateHash":"[0-9a-f]{8}/, '"gateHash":"00000000'));
    try {
      // Validation
      const verified = await cli(auditCommand, ['verify']);
      expect(verified.code).toBe(1);
      expect(verified.out).toContain(`gate ${gate.id} was retired with 2 links`);
      const traced = await cli(traceCommand, [gate.id]);
      expect(traced.out).toMatch(/chain BROKEN/);
    } finally {
      await t.redis.lset(AUDIT_KEYS.log, index, original);
    }
  });

  test('links not yet copied are copied before the gate goes; a gate that changed after the check, or awaits a post-hoc review, stays', async () => {
    // Setup: a gate created and cancelled with no observer at all (its links reach no other chain).
    const ctx = { ...t.app.ctx, observers: [] };
    const { gate } = await submitGate(ctx, { agent: ctx.agent('deploy-bot')!, body: example('k8s-deploy-staging') as unknown as Record<string, unknown>, idempotencyKey: `k-${Date.now()}` });
    await ctx.store.transition(gate.id, { event: 'cancel', now: Date.now(), audit: { event: 'cancel', actor: 'agent:deploy-bot', at: Date.now() } });
    await t.redis.zadd(RETIRE_INDEX, Date.now(), gate.id);
    // And one that awaits the post-hoc review of a break-glass.
    const held = await createGate(t, 'deploy-bot', example('k8s-deploy-staging'));
    expect((await as(t, 'deploy-bot', 'POST', `/v1/gates/${held.id}/cancel`, { json: {} })).status).toBe(200);
    await t.redis.zadd(POST_HOC_OPEN, Date.now(), held.id);
    // A third, finished after both: with batches of one, the held gate must not stop the pass before it.
    const later = await createGate(t, 'deploy-bot', example('k8s-deploy-staging'));
    expect((await as(t, 'deploy-bot', 'POST', `/v1/gates/${later.id}/cancel`, { json: {} })).status).toBe(200);
    await t.redis.zadd(RETIRE_INDEX, Date.now() - 2, held.id);
    await t.redis.zadd(RETIRE_INDEX, Date.now() - 1, gate.id);

    // Execution
    const report = await retention(31 * DAY, 30 * DAY, 1).retireDue();

    // Validation: the uncopied gate is in the deployment chain in full and then gone, as is the later one; the held one stays.
    expect(report).toMatchObject({ retired: 2, kept: 1 });
    expect(await keysLeft(later.id)).toBe(0);
    expect(await keysLeft(gate.id)).toBe(0);
    const copies = (await t.redis.lrange(AUDIT_KEYS.log, 0, -1)).map((r) => JSON.parse(r) as { gateId: string; seq: number }).filter((r) => r.gateId === gate.id);
    expect(copies.map((c) => c.seq)).toEqual([1, 2]);
    expect((await t.app.ctx.store.read(held.id))?.state).toBe('cancelled');
    const verified = await cli(auditCommand, ['verify']);
    expect(verified.out).toMatch(/0 problems/);
    await t.redis.zrem(POST_HOC_OPEN, held.id);

    // The store refuses to retire a gate whose chain is not the one checked (it moved on meanwhile) or that is not final.
    const moving = await createGate(t, 'deploy-bot', example('k8s-deploy-staging'));
    const end = (await t.app.ctx.store.chainEnd(moving.id))!;
    expect(await t.app.ctx.store.retire(moving.id, end, RETIRABLE_STATES, Date.now() + DAY)).toBe('not_final');
    expect((await as(t, 'deploy-bot', 'POST', `/v1/gates/${moving.id}/cancel`, { json: {} })).status).toBe(200);
    expect(await t.app.ctx.store.retire(moving.id, end, RETIRABLE_STATES, Date.now() + DAY)).toBe('changed');
    expect((await t.app.ctx.store.read(moving.id))?.state).toBe('cancelled');
  });
});
