import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import type { Job } from 'bullmq';
import { castVote } from '../../src/app/cast-vote.js';
import { GateStats, actionLabelFor } from '../../src/adapters/metrics/gate-stats.js';
import { PrometheusMetrics } from '../../src/adapters/metrics/prometheus.js';
import { runTimer, type TimerJobData } from '../../src/adapters/queue/timers.js';
import { TIMER_JOB } from '../../src/adapters/queue/names.js';
import { buildReport } from '../../src/app/admin/report.js';
import { ErrorCode } from '../../src/core/errors.js';
import { example } from '../support/gates.js';
import { parsePrometheusText, valueOf } from '../support/prometheus-text.js';
import { approveInSlack, createGate, startExecutionApp, type ExecutionApp } from './execution-fixtures.js';
import { eventually } from '../support/slack.js';

let t: ExecutionApp;
beforeAll(async () => {
  t = await startExecutionApp();
});
afterAll(async () => {
  await t.close();
});

const SECURITY = [
  { id: 'U0439ZZZZG4', team: 'security' },
  { id: 'U07DMEN2KHV', team: 'security' },
];

describe('metrics and statistics count what happened, once, with bounded labels', () => {
  test('one expiry, found at once by a read (agent polling) and by the timer, is announced and counted once', async () => {
    // Setup: a gate waiting for review, and a slow observer, as the Slack broker is when it posts.
    t.app.ctx.observers.push({ gateChanged: async (c) => { if (c.event === 'expire') await new Promise((r) => setTimeout(r, 30)); } });
    await t.app.admin.stats.flush();
    const before = (await t.app.admin.stats.window(1)).all.expired;
    const gate = await createGate(t, 'iam-agent', example('iam-attach-admin-policy'));
    const stored = (await t.app.ctx.store.read(gate.id))!;
    t.clock.advance(48 * 3_600_000);

    // Execution: the agent's GET enforces the deadline (hook announces) while the timer job runs.
    const job = { name: TIMER_JOB.expire, data: { gateId: gate.id, version: stored.version, state: 'pending_review', at: t.clock.now() } } as unknown as Job<TimerJobData>;
    const [, timer] = await Promise.all([t.app.ctx.store.get(gate.id, t.clock.now()), runTimer({ ctx: t.app.ctx, timers: undefined as never }, job, undefined)]);

    // Validation: one gate expired in Redis, one expiry announced and counted.
    expect((await t.app.ctx.store.read(gate.id))!.state).toBe('expired');
    const expires = t.changes.filter((c) => c.gate.id === gate.id && c.event === 'expire');
    const after = (await t.app.admin.stats.window(1)).all.expired;
    const prom = valueOf(parsePrometheusText((await t.app.admin.metrics.scrape()).text), 'countersign_gate_outcomes_total', { action: 'iam.attach_role_policy', outcome: 'expired' });
    expect({ announced: expires.length, shared: after - before, prom }).toEqual({ announced: 1, shared: 1, prom: 1 });
  });

  test('the deciding reviewer clicking Approve twice is no bypass attempt', async () => {
    const gate = await createGate(t, 'iam-agent', example('iam-attach-admin-policy'));
    await approveInSlack(t, gate.id, SECURITY); // the second approval decides
    const before = t.bypass.closed_gate_vote ?? 0;
    const beforeAlready = t.bypass.already_voted ?? 0;
    // The same person's second click (double click, or the message not yet updated).
    await expect(castVote(t.app.ctx, { gateId: gate.id, voter: { id: SECURITY[1]!.id, email: `${SECURITY[1]!.id.toLowerCase()}@example.com` }, vote: 'approve' })).rejects.toMatchObject({ code: ErrorCode.GateNotPending });
    // The same double click while the gate still waits is not counted at all (AlreadyVoted).
    const other = await createGate(t, 'iam-agent', example('iam-attach-admin-policy'));
    await t.app.ctx.store.setReviewers(other.id, new Map(SECURITY.map((r) => [r.id, r.team])));
    const v = { gateId: other.id, voter: { id: SECURITY[0]!.id, email: `${SECURITY[0]!.id.toLowerCase()}@example.com` }, vote: 'approve' as const };
    await castVote(t.app.ctx, v);
    await expect(castVote(t.app.ctx, v)).rejects.toMatchObject({ code: ErrorCode.AlreadyVoted });
    expect((t.bypass.already_voted ?? 0) - beforeAlready).toBe(0);
    expect((t.bypass.closed_gate_vote ?? 0) - before).toBe(0);
  });

  test('in observe mode, the share that needs a human is what enforce mode would ask for', async () => {
    await t.app.admin.runtime.setMode('observe');
    // Ten days later than anything else in this file, so the 7-day window holds only these.
    t.clock.advance(10 * 86_400_000);
    for (let i = 0; i < 4; i++) expect((await createGate(t, 'iam-agent', example('iam-attach-admin-policy'))).state).toBe('approved');
    await t.app.admin.runtime.setMode(undefined);
    const r = buildReport(await t.app.admin.stats.window(1));
    const share = valueOf(parsePrometheusText((await t.app.admin.metrics.scrape()).text), 'countersign_human_review_share', { window: '7d' });
    expect(r.totals).toMatchObject({ requests: 4, shadowReviews: 4 });
    expect({ reviewShare: r.totals.reviewShare, tooCoarse: r.tooCoarse, gauge: share }).toEqual({ reviewShare: 1, tooCoarse: true, gauge: 1 });
  });

  test('/metrics still serves this process\'s counters when the shared figures cannot be read (Redis outage)', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 3, lazyConnect: true, retryStrategy: () => 50 });
    dead.on('error', () => undefined);
    const stats = new GateStats(dead, { now: Date.now, actionLabel: actionLabelFor((a) => a) });
    const metrics = new PrometheusMetrics({ now: Date.now, actionLabel: (a) => a, window: () => stats.window(7) });
    metrics.bypassAttempt('replay');
    let outcome: string;
    try {
      const s = await metrics.scrape();
      outcome = s.text.includes('countersign_bypass_attempts_total{kind="replay"} 1') ? 'served' : 'served without counters';
    } catch (err) {
      outcome = `rejected: ${(err as Error).message}`;
    }
    dead.disconnect();
    expect(outcome).toBe('served');
  }, 30_000);

  test('an expiry in review and one after approval (never redeemed) are told apart', async () => {
    await t.app.admin.stats.flush();
    t.clock.advance(20 * 86_400_000); // a day of its own
    const undecided = await createGate(t, 'iam-agent', example('iam-attach-admin-policy'));
    const unredeemed = await createGate(t, 'iam-agent', example('iam-attach-admin-policy'));
    await approveInSlack(t, unredeemed.id, SECURITY);
    t.clock.advance(2 * 86_400_000);
    await t.app.ctx.store.get(undecided.id, t.clock.now());
    await t.app.ctx.store.get(unredeemed.id, t.clock.now());
    await eventually(async () => {
      await t.app.admin.stats.flush();
      return (await t.app.admin.stats.window(1)).all.expired === 2;
    }, 5_000);
    const totals = buildReport(await t.app.admin.stats.window(1)).totals;
    expect({ expired: totals.expired, reviewExpired: totals.reviewExpired }).toEqual({ expired: 2, reviewExpired: 1 });
  });

  test('actions under a catalog family (iam.*) are labelled by the family: agents cannot mint label values', async () => {
    await t.app.admin.stats.flush();
    const before = (await t.app.admin.stats.window(1)).actions.size;
    for (let i = 0; i < 20; i++) {
      await createGate(t, 'iam-agent', { ...example('iam-attach-admin-policy'), action: `iam.x${i}${Math.random().toString(36).slice(2, 8)}` });
    }
    const families = parsePrometheusText((await t.app.admin.metrics.scrape()).text);
    const labels = new Set(families.find((f) => f.name === 'countersign_gates_created_total')!.samples.map((s) => s.labels.action));
    const rows = (await t.app.admin.stats.window(1)).actions.size - before;
    // Expected: bounded (the family `iam.*` or `unknown`), not one series / Redis field set per string the agent chose.
    expect({ promActionLabels: labels.size <= 5, newStatsRows: rows <= 1 }).toEqual({ promActionLabels: true, newStatsRows: true });
  });
});
