import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ACTION_APPROVE } from '../../blocks/ids.js';
import { BLOCK_KIT, validateHome } from '../../blocks/limits.js';
import { evidenceHash } from '../../src/core/evidence-hash.js';
import { demoUser } from '../../src/sandbox/demo-workspace.js';
import { viewButtonClickPayload } from '../../src/sandbox/slack-interactions.js';
import { exampleAction, reviewDecision } from '../support/gates.js';
import { approve, changeRecord, eventually, sendInteraction, type SlackTestApp } from '../support/slack.js';
import { openHome, requestGate, startAdminApp } from './admin-support.js';

let t: SlackTestApp;
beforeAll(async () => {
  t = await startAdminApp();
});
afterAll(async () => {
  await t.close();
});

/** The Home view last published for a demo user. */
function homeOf(who: string): { id: string; hash: string; view: { blocks: unknown[]; callback_id?: string; private_metadata?: string } } | undefined {
  const viewId = t.slack.state.homes.get(demoUser(who).id);
  const stored = viewId ? t.slack.state.views.get(viewId) : undefined;
  return stored ? { id: stored.id, hash: stored.hash, view: stored.view as never } : undefined;
}

/** Publishes counted per user, to wait for the next one. */
const publishes = (who: string) => t.slack.calls.filter((c) => c.method === 'views.publish' && c.params.user_id === demoUser(who).id && c.response.ok).length;

describe('App Home under a rate limit', () => {
  test('a publish Slack refuses with 429 is made once Retry-After has passed, not dropped', async () => {
    const before = publishes('lars');
    t.slack.rateLimit({ method: 'views.publish', retryAfterSeconds: 1 });
    expect((await openHome(t, 'lars')).status).toBe(200);
    await eventually(() => publishes('lars') > before, 5_000);
  });
});

describe('App Home', () => {
  test('with 500 gates waiting for one reviewer, Home is published within Slack limits', async () => {
    // Setup: 500 gates, straight into the store, each with grace in its reviewer set.
    const action = exampleAction('iam-attach-admin-policy');
    const now = Date.now();
    for (let i = 0; i < 500; i += 1) {
      const id = t.app.ctx.ids.gateId(now + i);
      await t.app.ctx.store.create({
        id,
        agentId: 'iam-agent',
        request: action,
        delivery: {},
        evidenceHash: evidenceHash(action as unknown as Record<string, unknown>),
        decision: reviewDecision(),
        createdAt: now,
        state: 'pending_review',
        reviewDeadline: now + 3_600_000 + i * 1000,
        audit: { event: 'create', actor: 'agent:iam-agent', at: now },
      });
      await t.app.ctx.store.setReviewers(id, new Map([[demoUser('grace').id, 'security']]), now + 3_600_000 + i * 1000);
    }
    // Execution
    expect((await openHome(t, 'grace')).status).toBe(200);
    // Validation: the stand-in refuses views Slack would refuse, so a stored view is a valid one.
    const home = await eventually(() => homeOf('grace'), 10_000);
    expect(validateHome(home.view)).toBeUndefined();
    expect(home.view.blocks.length).toBeLessThanOrEqual(BLOCK_KIT.viewBlocks);
    const text = JSON.stringify(home.view);
    expect(text).toContain('Waiting for your review (500)');
    expect(text).toMatch(/\+485 more waiting for you/);
    expect(text).toContain('Team, last 7 days');
    // Someone outside every reviewer set sees none of them.
    await openHome(t, 'kenji');
    const other = await eventually(() => homeOf('kenji'));
    expect(JSON.stringify(other.view)).toContain('Waiting for your review (0)');
  });

  test("Home's Approve button counts the vote through the same handler, and the gate leaves the voter's list", async () => {
    // Setup: a real request that two security reviewers must approve; nina opens Home.
    const gate = await requestGate(t, 'iam-attach-admin-policy', 'iam-agent');
    await eventually(() => changeRecord(t.slack, gate.id), 10_000);
    await openHome(t, 'nina');
    const home = await eventually(() => {
      const h = homeOf('nina');
      return h && JSON.stringify(h.view).includes(gate.id) ? h : undefined;
    });
    const before = publishes('nina');
    // Execution: nina clicks Approve on Home.
    const payload = viewButtonClickPayload({
      actor: { id: demoUser('nina').id, name: 'nina' },
      actionId: ACTION_APPROVE,
      value: gate.id,
      blockId: `home_review_${gate.id}`,
      view: { id: home.id, hash: home.hash, callback_id: home.view.callback_id ?? '', private_metadata: home.view.private_metadata ?? '' },
      triggerId: t.slack.issueTriggerId({ user: demoUser('nina').id }),
    });
    expect((await sendInteraction(t, payload)).status).toBe(200);
    // Validation
    await eventually(async () => (await t.app.ctx.store.read(gate.id))!.votes.some((v) => v.voter === demoUser('nina').id));
    await eventually(() => publishes('nina') > before);
    await eventually(() => !JSON.stringify(homeOf('nina')!.view).includes(gate.id));
    expect(JSON.stringify(homeOf('nina')!.view)).toContain('*Your approvals*\\n1');
  });

  test('a burst of votes refreshes the voter\'s Home once at once and once more after the interval, not once per vote', async () => {
    // Setup: six gates that security reviewers must approve; omar has not voted yet.
    const gates: Array<{ id: string }> = [];
    for (let i = 0; i < 6; i += 1) gates.push(await requestGate(t, 'iam-attach-admin-policy', 'iam-agent', { summary: `Attach policy, burst ${i}` }));
    for (const gate of gates) await eventually(() => changeRecord(t.slack, gate.id), 10_000);
    const before = publishes('omar');
    // Execution: omar approves all six as fast as Slack delivers the clicks.
    for (const gate of gates) expect((await approve(t, gate.id, 'omar')).status).toBe(200);
    await eventually(async () => {
      const stored = await Promise.all(gates.map((g) => t.app.ctx.store.read(g.id)));
      return stored.every((g) => g!.votes.some((v) => v.voter === demoUser('omar').id));
    });
    // Validation: the first vote refreshes at once; the rest fold into one refresh 2 s later.
    await eventually(() => publishes('omar') === before + 2, 6_000);
    await new Promise((r) => setTimeout(r, 2_500));
    expect(publishes('omar')).toBe(before + 2);
  }, 30_000);

  test("a gate decided by others leaves every reviewer's queue, and one past its deadline is not listed", async () => {
    // Setup: a dual-control gate that grace, nina and omar may review, and one whose review window ended.
    const gate = await requestGate(t, 'iam-attach-admin-policy', 'iam-agent', { summary: 'Attach policy, decided by others' });
    await eventually(() => changeRecord(t.slack, gate.id), 10_000);
    const home = t.app.admin.home;
    expect((await home.pending({ reviewer: demoUser('grace').id, limit: 1_000 })).ids).toContain(gate.id);
    const lapsed = t.app.ctx.ids.gateId(Date.now());
    const action = exampleAction('iam-attach-admin-policy');
    await t.app.ctx.store.create({
      id: lapsed,
      agentId: 'iam-agent',
      request: action,
      delivery: {},
      evidenceHash: evidenceHash(action as unknown as Record<string, unknown>),
      decision: reviewDecision(),
      createdAt: Date.now() - 60_000,
      state: 'pending_review',
      reviewDeadline: Date.now() - 1,
      audit: { event: 'create', actor: 'agent:iam-agent', at: Date.now() - 60_000 },
    });
    await t.app.ctx.store.setReviewers(lapsed, new Map([[demoUser('grace').id, 'security']]), Date.now() - 1);
    // Execution: nina and omar approve.
    await approve(t, gate.id, 'nina');
    await approve(t, gate.id, 'omar');
    await eventually(async () => (await t.app.ctx.store.read(gate.id))!.state === 'approved');
    // Validation: gone from grace's queue (and its count) without grace doing anything.
    await eventually(async () => {
      const queue = await home.pending({ reviewer: demoUser('grace').id, limit: 1_000 });
      return !queue.ids.includes(gate.id) && !queue.ids.includes(lapsed) && queue.total === queue.ids.length;
    });
  });

  test('the requester and an excluded agent owner are reviewers who cannot vote: the gate is not in their queue', async () => {
    // Setup: a production apply requested for ana, a payments owner (its reviewer set); an IAM
    // change by iam-agent, whose owner tomas is in the security set and excluded by policy.
    const apply = await requestGate(t, 'terraform-apply-prod', 'terraform-bot', { summary: 'Apply, requested by a reviewer' });
    const iam = await requestGate(t, 'iam-attach-admin-policy', 'iam-agent', { summary: 'IAM change, owner in the set' });
    await eventually(() => changeRecord(t.slack, apply.id) && changeRecord(t.slack, iam.id), 10_000);
    const queue = async (who: string) => (await t.app.admin.home.pending({ reviewer: demoUser(who).id, limit: 1_000 })).ids;

    // Validation: both are recorded reviewers (the vote script refuses them by rule), yet their
    // queues hold neither gate; the others in the sets see theirs.
    expect((await t.app.ctx.store.reviewers(apply.id)).has(demoUser('ana').id)).toBe(true);
    expect((await t.app.ctx.store.reviewers(iam.id)).has(demoUser('tomas').id)).toBe(true);
    expect(await queue('ana')).not.toContain(apply.id);
    expect(await queue('tomas')).not.toContain(iam.id);
    expect(await queue('elena')).toContain(apply.id);
    expect(await queue('grace')).toContain(iam.id);
  });

  test("a requester sees their recent requests", async () => {
    const gate = await requestGate(t, 'k8s-deploy-staging', 'deploy-bot'); // on behalf of li.wei
    await openHome(t, 'li');
    const home = await eventually(() => {
      const h = homeOf('li');
      return h && JSON.stringify(h.view).includes('k8s.deploy') ? h : undefined;
    });
    expect(JSON.stringify(home.view)).toContain('Your recent requests');
    expect(JSON.stringify(home.view)).toContain('staging');
    expect(gate.state).toBe('approved');
  });
});
