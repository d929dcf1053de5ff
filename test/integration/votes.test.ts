import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { GateStore } from '../../src/adapters/redis/gate-store.js';
import type { Decision } from '../../src/core/decision.js';
import { idSource } from '../../src/core/ids.js';
import { pendingGateInput, reviewDecision } from '../support/gates.js';
import { freshRedis } from '../support/redis.js';

const ids = idSource((n) => randomBytes(n));
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
const REVIEWERS = new Map([
  ['U_ALICE', 'sre'],
  ['U_BOB', 'sre'],
  ['U_CAROL', 'security'],
  ['U_ANA', 'payments'], // also the requester (ana.silva@example.com)
  ['U_OWNER', 'platform'],
]);

let redis: Redis;
let store: GateStore;
beforeAll(async () => {
  redis = await freshRedis();
  store = new GateStore(redis);
});
afterAll(async () => {
  await redis.quit();
});

async function pendingGate(review: Partial<NonNullable<Decision['review']>> = {}, extra: Partial<Decision> = {}) {
  // terraform-apply-prod: requester ana.silva@example.com
  const base = reviewDecision();
  const decision = { ...base, ...extra, review: { ...base.review!, ...review } };
  const id = ids.gateId(T0);
  await store.create(pendingGateInput(id, T0, { decision }));
  await store.setReviewers(id, REVIEWERS);
  await store.annotate(id, 'requesterSlackIdFromEmail', true);
  await store.annotate(id, 'requesterSlackId', 'U_ANA');
  return id;
}

/** A gate requested for `ana.silva+deploybot@example.com` (no Slack user), the agent naming U_DAVID as the requester. */
async function aliasGate(reviewers: ReadonlyMap<string, string | undefined>): Promise<string> {
  const id = ids.gateId(T0);
  const input = pendingGateInput(id, T0);
  input.request.context.requester.email = 'ana.silva+deploybot@example.com';
  input.request.context.requester.slackUserId = 'U_DAVID';
  await store.create(input);
  await store.setReviewers(id, reviewers);
  return id;
}

const vote = (id: string, voter: string, v: 'approve' | 'deny' = 'approve', now = T0 + 1000, email?: string) =>
  store.vote(id, { voter, vote: v, now, ...(email ? { voterEmail: email } : {}), ...(v === 'deny' ? { reason: 'not now' } : {}) });

describe('dual control in one script', () => {
  test('two distinct reviewers approve a quorum-2 gate; the first vote only counts', async () => {
    const id = await pendingGate({ quorum: 2 });
    const first = await vote(id, 'U_ALICE');
    expect(first).toMatchObject({ kind: 'counted', approvals: 1 });
    const second = await vote(id, 'U_CAROL');
    expect(second.kind).toBe('decided');
    expect(second.gate).toMatchObject({ state: 'approved', resolution: { event: 'approve', approvers: ['U_ALICE', 'U_CAROL'] } });
    expect(second.gate.executionDeadline).toBe(T0 + 1000 + 900_000);
  });

  test('the requester cannot approve under an alias: a +tag on either email, or the Slack id the agent sent', async () => {
    // Requested for ana.silva+deploybot@example.com, whose Slack id could not be resolved; the agent named U_DAVID as the requester's Slack id.
    const id = await aliasGate(new Map([...REVIEWERS, ['U_DAVID', 'payments']]));
    await expect(vote(id, 'U_ANA', 'approve', T0 + 1, 'ana.silva@example.com')).rejects.toMatchObject({ code: 'ERR_SELF_APPROVAL' });
    await expect(vote(id, 'U_ANA', 'approve', T0 + 1, 'Ana.Silva+other@Example.com')).rejects.toMatchObject({ code: 'ERR_SELF_APPROVAL' });
    await expect(vote(id, 'U_DAVID', 'approve', T0 + 1, 'david@example.com')).rejects.toMatchObject({ code: 'ERR_SELF_APPROVAL' });
    expect((await store.read(id))!.votes).toHaveLength(0);
  });

  test('an approval by a voter whose email is unknown is refused when the requester has no Slack id on record (fail closed); a denial counts', async () => {
    const id = ids.gateId(T0);
    await store.create(pendingGateInput(id, T0, { decision: { ...reviewDecision(), review: { ...reviewDecision().review!, quorum: 2 } } }));
    await store.setReviewers(id, REVIEWERS);
    await expect(vote(id, 'U_ALICE')).rejects.toMatchObject({ code: 'ERR_SELF_APPROVAL', details: { identity: 'unknown' } });
    // With the requester's Slack id on record, found by their email, the same voter is told apart by it.
    await store.annotate(id, 'requesterSlackId', 'U_ANA');
    await expect(vote(id, 'U_ALICE')).rejects.toMatchObject({ code: 'ERR_SELF_APPROVAL', details: { identity: 'unknown' } });
    await store.annotate(id, 'requesterSlackIdFromEmail', true);
    expect((await vote(id, 'U_ALICE')).kind).toBe('counted');
    const denyGate = ids.gateId(T0);
    await store.create(pendingGateInput(denyGate, T0));
    await store.setReviewers(denyGate, REVIEWERS);
    expect((await vote(denyGate, 'U_BOB', 'deny')).gate.state).toBe('denied');
  });

  test('the requester cannot approve, by Slack id or by email', async () => {
    const id = await pendingGate();
    await expect(vote(id, 'U_ANA')).rejects.toMatchObject({ code: 'ERR_SELF_APPROVAL' });
    await expect(vote(id, 'U_ALICE', 'approve', T0 + 1, 'Ana.Silva@example.com')).rejects.toMatchObject({ code: 'ERR_SELF_APPROVAL' });
    expect((await store.read(id))!.votes).toHaveLength(0);
  });

  test("an owner named by email cannot approve while Slack does not give the voter's email (fail closed); with it, the owner is refused by mailbox", async () => {
    const id = await pendingGate({ excludeAgentOwner: true, quorum: 2 }, { agentOwner: 'tomas.ruiz@example.com' });
    await expect(vote(id, 'U_TOMAS')).rejects.toMatchObject({ code: 'ERR_SELF_APPROVAL', details: { identity: 'unknown' } });
    await expect(vote(id, 'U_TOMAS', 'approve', T0 + 1000, 'Tomas.Ruiz+ops@example.com')).rejects.toMatchObject({ code: 'ERR_OWNER_APPROVAL' });
    expect((await vote(id, 'U_ALICE', 'approve', T0 + 1000, 'alice@example.com')).kind).toBe('counted');
    // A denial grants nothing: it counts whoever cannot be told apart.
    expect((await vote(id, 'U_CAROL', 'deny')).gate.state).toBe('denied');
  });

  test('without the voter\'s email, a requester Slack id only the agent vouches for does not tell them apart (fail closed)', async () => {
    // The agent named U_DAVID; the requester's email resolved to nobody, so the note holds the agent's id.
    const id = await aliasGate(REVIEWERS);
    await store.annotate(id, 'requesterSlackId', 'U_DAVID');
    await expect(vote(id, 'U_ANA')).rejects.toMatchObject({ code: 'ERR_SELF_APPROVAL', details: { identity: 'unknown' } });
    expect((await vote(id, 'U_ALICE', 'approve', T0 + 1000, 'alice@example.com')).kind).toBe('counted');
  });

  test('the agent sent the right Slack id and the email lookup confirmed it: a voter without an email is told apart', async () => {
    const id = ids.gateId(T0);
    const input = pendingGateInput(id, T0, { decision: { ...reviewDecision(), review: { ...reviewDecision().review!, quorum: 2 } } });
    input.request.context.requester.slackUserId = 'U_ANA';
    await store.create(input);
    await store.setReviewers(id, REVIEWERS);
    await store.annotate(id, 'requesterSlackIdFromEmail', true);
    await store.annotate(id, 'requesterSlackId', 'U_ANA');
    expect((await vote(id, 'U_ALICE')).kind).toBe('counted');
    await expect(vote(id, 'U_ANA')).rejects.toMatchObject({ code: 'ERR_SELF_APPROVAL' });
  });

  test("the agent's owner cannot approve when policy excludes owners", async () => {
    const id = await pendingGate({ excludeAgentOwner: true }, { agentOwner: 'U_OWNER' });
    await expect(vote(id, 'U_OWNER')).rejects.toMatchObject({ code: 'ERR_OWNER_APPROVAL' });
    const allowed = await pendingGate({ excludeAgentOwner: false, quorum: 1 }, { agentOwner: 'U_OWNER' });
    expect((await vote(allowed, 'U_OWNER')).kind).toBe('decided');
  });

  test('someone outside the reviewer set is refused', async () => {
    const id = await pendingGate();
    await expect(vote(id, 'U_MALLORY')).rejects.toMatchObject({ code: 'ERR_NOT_A_REVIEWER' });
  });

  test('a double click counts once', async () => {
    const id = await pendingGate({ quorum: 2 });
    await vote(id, 'U_ALICE');
    await expect(vote(id, 'U_ALICE')).rejects.toMatchObject({ code: 'ERR_ALREADY_VOTED' });
    expect((await store.read(id))!).toMatchObject({ state: 'pending_review', votes: [{ voter: 'U_ALICE' }] });
  });

  test('distinct teams: two approvals from one team do not meet a two-team rule', async () => {
    const id = await pendingGate({ quorum: 2, distinctTeams: 2 });
    await vote(id, 'U_ALICE');
    expect(await vote(id, 'U_BOB')).toMatchObject({ kind: 'counted', approvals: 2, teams: 1 });
    expect((await vote(id, 'U_CAROL')).gate.state).toBe('approved');
  });

  test('one deny ends the review with its reason', async () => {
    const id = await pendingGate({ quorum: 2 });
    await vote(id, 'U_ALICE');
    const denied = await vote(id, 'U_BOB', 'deny');
    expect(denied.gate).toMatchObject({ state: 'denied', resolution: { event: 'deny', actor: 'slack:U_BOB', reason: 'not now' } });
    await expect(vote(id, 'U_CAROL')).rejects.toMatchObject({ code: 'ERR_GATE_NOT_PENDING' });
  });

  test('a click after the window is refused and expires the gate, with no timer involved', async () => {
    const id = await pendingGate({ quorum: 1 });
    await expect(vote(id, 'U_ALICE', 'approve', T0 + 900_000)).rejects.toMatchObject({ code: 'ERR_DEADLINE_PASSED' });
    expect((await store.read(id))!.state).toBe('expired');
  });

  test('20 concurrent approvals with quorum 2 make exactly one transition', async () => {
    // Setup: 20 distinct reviewers.
    const id = await pendingGate({ quorum: 2 });
    const many = new Map(Array.from({ length: 20 }, (_, i) => [`U_R${i}`, `team${i % 3}`] as const));
    await store.setReviewers(id, many);
    // Execution
    const results = await Promise.allSettled([...many.keys()].map((voter) => vote(id, voter)));
    // Validation
    const decided = results.filter((r) => r.status === 'fulfilled' && r.value.kind === 'decided');
    const counted = results.filter((r) => r.status === 'fulfilled' && r.value.kind === 'counted');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(decided).toHaveLength(1);
    expect(counted).toHaveLength(1);
    expect(refused).toHaveLength(18);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_GATE_NOT_PENDING' });
    const trail = await store.auditTrail(id);
    expect(trail.filter((l) => l.to === 'approved' && l.from === 'pending_review')).toHaveLength(1);
  });
});
