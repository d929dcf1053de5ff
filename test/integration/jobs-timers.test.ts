import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { jobId, TIMER_JOB } from '../../src/adapters/queue/names.js';
import { demoUser } from '../../src/sandbox/demo-workspace.js';
import { approve, changeRecord, ephemeralsFor, eventually } from '../support/slack.js';
import { signedCall } from '../support/agent-http.js';
import { LOOPBACK_AGENTS, shortGate, startAgentEndpoint, startJobsApp, textOf, threadOf, withSlack, type JobsApp } from './jobs-support.js';

let t: JobsApp;
beforeAll(async () => {
  t = await startJobsApp({ slack: true, env: LOOPBACK_AGENTS });
});
afterAll(async () => {
  await t.close();
});

const read = async (id: string) => (await t.app.ctx.store.read(id))!;
const audit = async (id: string) => (await t.app.ctx.store.auditTrail(id)).map((l) => ({ to: l.to, ...(JSON.parse(l.entry) as { actor: string }) }));

/** Drops every delayed timer job (expiry ticks, reminder chains), as if Redis had lost them. */
async function loseTimers() {
  await t.app.background.queues.timers.drain(true);
}

describe('expiry', () => {
  test('a gate expires on time, once, and its change record says so', async () => {
    // Setup: a two-second review window.
    const expiredBefore = (await t.app.admin.stats.window(1)).all.expired;
    const gate = await shortGate(t, { name: 'terraform-apply-prod', agent: 'terraform-bot', windowSeconds: 2 });
    await eventually(() => changeRecord(t.slack!, gate.id));
    // Execution: nothing but time.
    const expired = await eventually(async () => ((await read(gate.id)).state === 'expired' ? read(gate.id) : undefined), 5_000);
    // Validation: applied within a second of the deadline, by the timer, once.
    const lateness = expired.updatedAt - gate.reviewDeadline!;
    expect(lateness).toBeGreaterThanOrEqual(0);
    expect(lateness).toBeLessThan(1_000);
    const moves = (await audit(gate.id)).filter((e) => e.to === 'expired');
    expect(moves).toEqual([expect.objectContaining({ actor: 'system:timer' })]);
    const message = await eventually(() => {
      const m = changeRecord(t.slack!, gate.id);
      return m && textOf(m).includes('Expired') ? m : undefined;
    });
    expect(textOf(message)).not.toContain('"actions"');
    // A late click and a read afterwards find it expired and count nothing more.
    await approve(withSlack(t), gate.id, 'elena');
    await eventually(() => ephemeralsFor(t.slack!, 'elena').find((text) => text.includes('expired')));
    await t.app.ctx.store.get(gate.id, Date.now());
    expect((await t.app.admin.stats.window(1)).all.expired - expiredBefore).toBe(1);
  });

  test('an agent reading its gate after the deadline expires it, and everyone hears of it once', async () => {
    // Setup: no sweeper, no timers, a callback URL: only the agent's read can notice the deadline.
    await t.app.background.queues.timers.removeJobScheduler(TIMER_JOB.sweep);
    const agent = await startAgentEndpoint();
    try {
      const gate = await shortGate(t, { name: 'terraform-apply-prod', agent: 'terraform-bot', windowSeconds: 2, delivery: { callbackUrl: `${agent.url}/cb` } });
      await loseTimers();
      await eventually(() => changeRecord(t.slack!, gate.id));
      await new Promise((r) => setTimeout(r, gate.reviewDeadline! - Date.now() + 300));
      expect((await read(gate.id)).state).toBe('pending_review'); // as stored: nothing enforced it yet
      const expiredBefore = (await t.app.admin.stats.window(1)).all.expired;
      // Execution: the agent polls its gate.
      const answer = await signedCall(t.app.url, 'terraform-bot', t.secrets['terraform-bot']!, 'GET', `/v1/gates/${gate.id}`);
      // Validation: the answer, the change record, the callback and the figures all say expired, once.
      expect(answer.body.state).toBe('expired');
      await eventually(() => textOf(changeRecord(t.slack!, gate.id)!).includes('Expired'), 5_000);
      await eventually(() => agent.received.some((r) => JSON.parse(r.body).data.gate.state === 'expired'), 5_000);
      // A vote afterwards is refused and does not announce the expiry a second time.
      await approve(withSlack(t), gate.id, 'elena');
      await eventually(() => ephemeralsFor(t.slack!, 'elena').find((text) => text.includes(gate.id) || text.includes('expired')));
      expect((await t.app.admin.stats.window(1)).all.expired - expiredBefore).toBe(1);
      expect(agent.received.filter((r) => JSON.parse(r.body).data.gate.state === 'expired')).toHaveLength(1);
    } finally {
      await agent.close();
    }
  });

  test('a vote after the window is refused even when the expiry job was removed', async () => {
    // Setup: no sweeper, and the timers are lost right after the gate is created.
    await t.app.background.queues.timers.removeJobScheduler(TIMER_JOB.sweep);
    const gate = await shortGate(t, { name: 'terraform-apply-prod', agent: 'terraform-bot', windowSeconds: 3 });
    await loseTimers();
    await eventually(() => changeRecord(t.slack!, gate.id));
    await new Promise((r) => setTimeout(r, gate.reviewDeadline! - Date.now() + 300));
    expect((await read(gate.id)).state).toBe('pending_review'); // as stored: nothing enforced it yet
    // Execution: a service owner clicks Approve after the deadline.
    await approve(withSlack(t), gate.id, 'elena');
    // Validation: refused, expired by the vote script itself, and Slack shows it.
    await eventually(() => ephemeralsFor(t.slack!, 'elena').find((text) => text.includes('review window has ended')));
    const after = await read(gate.id);
    expect(after.state).toBe('expired');
    expect(after.votes).toHaveLength(0);
    await eventually(() => textOf(changeRecord(t.slack!, gate.id)!).includes('Expired'));
  });

  test('the sweeper applies a deadline whose timer was lost, and re-arms lost timers', async () => {
    // Setup: two gates, whose timers are lost; one of them falls due meanwhile.
    const overdue = await shortGate(t, { name: 'iam-attach-admin-policy', agent: 'iam-agent', windowSeconds: 1 });
    const waiting = await shortGate(t, { name: 'iam-attach-admin-policy', agent: 'iam-agent', windowSeconds: 30 });
    await loseTimers();
    await new Promise((r) => setTimeout(r, overdue.reviewDeadline! - Date.now() + 600));
    // Execution: the sweeper is back (every 500 ms, 500 ms grace); later, the re-arm pass (as at boot).
    await t.app.background.queues.timers.upsertJobScheduler(TIMER_JOB.sweep, { every: 500 }, { name: TIMER_JOB.sweep, opts: { removeOnComplete: true } });
    const expired = await eventually(async () => ((await read(overdue.id)).state === 'expired' ? read(overdue.id) : undefined), 5_000);
    const report = await t.app.background.sweeper.rearm();
    // Validation: the overdue gate was expired by the sweeper, once; the waiting one has its reminder chain and the coming ticks again.
    expect(expired.updatedAt - overdue.reviewDeadline!).toBeLessThan(2_500);
    expect((await audit(overdue.id)).filter((e) => e.to === 'expired')).toEqual([expect.objectContaining({ actor: 'system:sweeper' })]);
    expect(report.rearmed).toBeGreaterThanOrEqual(1);
    expect(await t.app.background.queues.timers.getJob(jobId.remind(waiting.id, 50))).toBeDefined();
    const timers = t.app.background.timers;
    expect(await t.app.background.queues.timers.getJob(jobId.tick(timers.tickEnd(Date.now() + 5_000)))).toBeDefined();
    await eventually(() => textOf(changeRecord(t.slack!, overdue.id) ?? { text: '' }).includes('Expired'), 5_000);
  });
});

describe('reminders and escalation', () => {
  test('a reminder and an escalation are posted once in the thread; the fallback set may then vote', async () => {
    // Setup: production changes are reviewed by service owners and escalate to platform.
    const gate = await shortGate(t, { name: 'terraform-apply-prod', agent: 'terraform-bot', windowSeconds: 8 });
    expect(gate.decision.review?.escalateTo).toBe('platform');
    const record = await eventually(() => changeRecord(t.slack!, gate.id));
    const jonas = demoUser('jonas').id; // platform, not a service owner (marta owns the agent)
    expect((await t.app.ctx.store.reviewers(gate.id)).has(jonas)).toBe(false);

    // Execution: half-way (4 s) a reminder; at three quarters (6 s) the escalation.
    const reminder = await eventually(() => threadOf(t.slack!, record.ts).find((m) => textOf(m).includes('Reminder')), 6_000);
    // The same reminder timer delivered again (at-least-once) must not post twice.
    await t.app.background.queues.timers.add(TIMER_JOB.remind, { gateId: gate.id, version: gate.version, state: 'pending_review', at: Date.now(), pct: 50 }, { jobId: 'remind-again' });
    const again = await eventually(async () => {
      const job = await t.app.background.queues.timers.getJob('remind-again');
      return job && (await job.isCompleted()) ? job : undefined;
    });
    expect(again.returnvalue).toBe('remind'); // it did ask Slack to remind again
    const escalation = await eventually(() => threadOf(t.slack!, record.ts).find((m) => textOf(m).includes('escalated')), 6_000);
    await eventually(async () => (await t.app.ctx.store.reviewers(gate.id)).has(jonas));
    await approve(withSlack(t), gate.id, 'jonas');
    await eventually(async () => (await read(gate.id)).state === 'approved');
    await new Promise((r) => setTimeout(r, 2_000)); // past the 90 % mark: that reminder must not appear

    // Validation
    expect(textOf(reminder)).toContain('50 %');
    expect(textOf(reminder)).toContain('<!subteam^S07DHODZDOC>'); // the service owners
    expect(textOf(escalation)).toContain('<!subteam^S04T75V2SEH>'); // platform on-call
    const thread = threadOf(t.slack!, record.ts).map(textOf);
    expect(thread.filter((m) => m.includes('Reminder'))).toHaveLength(1);
    expect(thread.filter((m) => m.includes('escalated'))).toHaveLength(1);
    expect((await read(gate.id)).votes).toEqual([expect.objectContaining({ voter: jonas, vote: 'approve' })]);
  });

  test('a chain whose link failed for good is re-armed, and the escalation it missed meanwhile runs at once', async () => {
    // Setup: a 10 s window; its 50 % reminder link fails every attempt to arm the next link (as
    // with Redis unreachable for longer than its retries), and stays behind as a failed job.
    const gate = await shortGate(t, { name: 'terraform-apply-prod', agent: 'terraform-bot', windowSeconds: 10 });
    await eventually(() => changeRecord(t.slack!, gate.id));
    const timers = t.app.background.timers;
    const queue = t.app.background.queues.timers;
    await (await queue.getJob(jobId.remind(gate.id, 50)))?.remove();
    const arm = timers.arm.bind(timers);
    (timers as unknown as { arm: unknown }).arm = async (g: { id: string }, after?: number) => {
      if (g.id === gate.id) throw new Error('Connection is closed.');
      return arm(g as never, after);
    };
    try {
      await queue.add(TIMER_JOB.remind, { gateId: gate.id, version: gate.version, state: 'pending_review', at: gate.createdAt + 5_000, pct: 50 }, {
        jobId: jobId.remind(gate.id, 50),
        delay: Math.max(0, gate.createdAt + 5_000 - Date.now()),
        attempts: 2,
        backoff: { type: 'fixed', delay: 200 },
        removeOnComplete: true,
        removeOnFail: { count: 1_000 },
      });
      await eventually(async () => (await (await queue.getJob(jobId.remind(gate.id, 50)))?.isFailed()) === true, 10_000);
    } finally {
      (timers as unknown as { arm: unknown }).arm = arm;
    }
    const jonas = demoUser('jonas').id; // platform: the fallback set
    // Past the escalation's time (7.5 s) with no escalation.
    await new Promise((r) => setTimeout(r, Math.max(0, gate.createdAt + 7_800 - Date.now())));
    expect((await t.app.ctx.store.reviewers(gate.id)).has(jonas)).toBe(false);

    // Execution: the periodic re-arm pass.
    const report = await t.app.background.sweeper.rearm();

    // Validation: the failed link did not count as a timer; the missed escalation ran at once.
    expect(report.rearmed).toBeGreaterThanOrEqual(1);
    await eventually(async () => (await t.app.ctx.store.reviewers(gate.id)).has(jonas), 2_000);
    expect((await read(gate.id)).state).toBe('pending_review');
  }, 20_000);

  test('an escalation to a reviewer set no longer in the policy (removed by a reload) says so in the thread, once, and the job succeeds', async () => {
    const gate = await shortGate(t, { name: 'terraform-apply-prod', agent: 'terraform-bot', windowSeconds: 60 });
    const record = await eventually(() => changeRecord(t.slack!, gate.id));
    const job = await t.app.background.queues.timers.add(TIMER_JOB.escalate, { gateId: gate.id, version: gate.version, state: 'pending_review', at: Date.now(), to: 'disbanded-team' }, { jobId: `escalate-gone-${gate.id}` });
    const done = await eventually(async () => ((await job.getState()) === 'completed' ? job : undefined), 10_000);
    expect(done).toBeDefined();
    const note = await eventually(() => threadOf(t.slack!, record.ts).find((m) => textOf(m).includes('did not happen')), 10_000);
    expect(textOf(note)).toContain('`disbanded-team`');
  });
});
