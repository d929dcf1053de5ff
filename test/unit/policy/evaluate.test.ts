import { describe, expect, test } from '@jest/globals';
import { freezeProblems } from '../../../src/core/policy/check.js';
import { evaluate } from '../../../src/core/policy/evaluate.js';
import type { FreezeWindow } from '../../../src/core/policy/types.js';
import { NOW, policyOf, request } from './support.js';

const policy = policyOf();
const decide = (patch: Parameters<typeof request>[0] = {}, agentId = 'bot', overrides = {}, set = policy) =>
  evaluate({ request: request(patch), agentId }, set, NOW, overrides);
const ruleIds = (d: ReturnType<typeof decide>) => d.rules.map((r) => r.rule);

describe('labels decide through the rules', () => {
  test('read-only: allowed, with the rule that allowed it', () => {
    const d = decide({ action: 'logs.query' });
    expect(d).toMatchObject({ outcome: 'allow', mode: 'enforce', grantTtlSeconds: 300, protectedTarget: false });
    expect(d.review).toBeUndefined();
    expect(d.rules).toEqual([{ rule: 'reads', outcome: 'allow', mode: 'enforce', subject: 'action', explanation: 'matched rule reads (logs.query in production) → allow' }]);
  });

  test('production-change: reviewed by the owners, one approval', () => {
    expect(decide().review).toEqual({
      reviewerSet: 'owners',
      quorum: 1,
      distinctTeams: 1,
      reviewWindowSeconds: 3600,
      excludeAgentOwner: true,
      breakGlassAllowed: true,
    });
  });

  test('privilege-amplifying: dual control by security, with the shorter grant of the rule', () => {
    const d = decide({ action: 'iam.attach_role_policy', environment: 'staging' });
    expect(d).toMatchObject({ outcome: 'review', review: { reviewerSet: 'security', quorum: 2 }, grantTtlSeconds: 120 });
  });

  test('irreversible (from the catalog or from the evidence): two approvers from two teams, no break-glass', () => {
    const want = { outcome: 'review', review: { reviewerSet: 'sre-and-owners', quorum: 2, distinctTeams: 2, breakGlassAllowed: false } };
    expect(decide({ action: 'db.restore' })).toMatchObject(want);
    expect(decide({ action: 'db.migrate', evidence: { diff: 'alter table t drop column c' } })).toMatchObject(want);
    expect(decide({ action: 'db.migrate', evidence: { diff: 'alter table t add column c int' } }).review?.reviewerSet).toBe('owners');
  });

  test('data-sensitive: from the catalog, or raised by the data a resource holds', () => {
    expect(decide({ action: 'data.export', environment: 'staging' }).review?.reviewerSet).toBe('owners');
    const hook = decide({ action: 'hook.fire', environment: 'staging', resources: [{ type: 'postgres.table', id: 'shop/orders' }] });
    expect(hook).toMatchObject({ outcome: 'review', rules: [expect.objectContaining({ rule: 'sensitive-data' })] });
  });

  test('reject: with the rule reason, and the policy version on the decision', () => {
    const d = decide({ action: 'db.drop_database' });
    expect(d).toMatchObject({ outcome: 'reject', reason: 'databases are dropped by hand', policyVersion: policy.version });
    expect(policy.version).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  test('every decision carries the agent owner and the execution window', () => {
    expect(decide()).toMatchObject({ agentOwner: 'U0OWNER', executionWindowSeconds: 600 });
  });
});

describe('strictest wins over the action and its downstream actions', () => {
  test('an allowed action with a refused downstream action is refused', () => {
    const d = decide({ environment: 'staging', downstream: [{ action: 'db.drop_database' }] });
    expect(d.outcome).toBe('reject');
    expect(d.rules.map((r) => [r.rule, r.subject])).toEqual([
      ['staging', 'action'],
      ['never-drop-databases', 'downstream[0]'],
    ]);
  });

  test('the larger quorum wins among reviews; on a tie the main action’s reviewers keep it', () => {
    expect(decide({ downstream: [{ action: 'iam.put_role_policy' }] }).review).toMatchObject({ reviewerSet: 'security', quorum: 2 });
    expect(decide({ action: 'data.export', downstream: [{ action: 'app.deploy' }] }).review?.reviewerSet).toBe('owners');
  });

  test('a downstream action missing from the catalog makes an allowed request wait for the default reviewers', () => {
    const d = decide({ environment: 'staging', downstream: [{ action: 'cdn.purge' }] });
    expect(d).toMatchObject({ outcome: 'review', review: { reviewerSet: 'platform' } });
    // The staging rule allows it, but an unknown action is at least reviewed.
    expect(d.rules.map((r) => [r.rule, r.subject])).toEqual([
      ['staging', 'action'],
      ['staging', 'downstream[0]'],
      ['unknown-action', 'downstream[0]'],
    ]);
  });
});

describe('observe mode', () => {
  test('globally (runtime switch): lets the action through and records what enforce mode would do', () => {
    const d = decide({}, 'bot', { mode: 'observe' });
    expect(d).toMatchObject({ outcome: 'allow', mode: 'observe', shadow: { outcome: 'review', review: { reviewerSet: 'owners' } } });
    expect(d.review).toBeUndefined();
    expect(d.rules[0]).toMatchObject({ rule: 'prod-changes', outcome: 'review', mode: 'observe' });
  });

  test('globally from the files (defaults.mode), shadowing a reject with its reason', () => {
    const observing = policyOf((doc) => (doc.defaults.mode = 'observe'));
    const d = decide({ action: 'db.drop_database' }, 'bot', {}, observing);
    expect(d).toMatchObject({ outcome: 'allow', mode: 'observe', shadow: { outcome: 'reject', reason: 'databases are dropped by hand' } });
  });

  test('per rule in the files: only that rule is let through', () => {
    const trial = policyOf((doc) => (doc.rules.find((r: { id: string }) => r.id === 'prod-changes').mode = 'observe'));
    expect(decide({}, 'bot', {}, trial)).toMatchObject({ outcome: 'allow', mode: 'observe', shadow: { outcome: 'review' } });
    expect(decide({ action: 'db.restore' }, 'bot', {}, trial)).toMatchObject({ outcome: 'review', mode: 'enforce' });
    expect(decide({ action: 'db.restore' }, 'bot', {}, trial).shadow).toBeUndefined();
  });

  test('per rule at runtime: wins over the global mode, in both directions', () => {
    expect(decide({}, 'bot', { ruleModes: { 'prod-changes': 'observe' } })).toMatchObject({ outcome: 'allow', mode: 'observe' });
    expect(decide({}, 'bot', { mode: 'observe', ruleModes: { 'prod-changes': 'enforce' } })).toMatchObject({ outcome: 'review' });
  });

  test('a downstream action observed does not hide the enforced main action', () => {
    const d = decide({ downstream: [{ action: 'db.drop_database' }] }, 'bot', { ruleModes: { 'never-drop-databases': 'observe' } });
    // The downstream drop, its reject rule observed, still meets the enforced rule behind it (SRE and owners).
    expect(d).toMatchObject({ outcome: 'review', mode: 'observe', review: { reviewerSet: 'sre-and-owners' }, shadow: { outcome: 'reject' } });
  });

  test('a rule in observe mode does not hide an enforced rule behind it: that one decides the real outcome', () => {
    // never-drop-databases (reject) observed; the production-change rule behind it still matches a database drop.
    const d = decide({ action: 'db.drop_database' }, 'bot', { ruleModes: { 'never-drop-databases': 'observe' } });
    expect(d).toMatchObject({ outcome: 'review', mode: 'observe', review: { reviewerSet: 'sre-and-owners' }, shadow: { outcome: 'reject' } });
    expect(d.rules.map((r) => [r.rule, r.mode])).toEqual([
      ['never-drop-databases', 'observe'],
      [expect.any(String), 'enforce'],
    ]);
    // A new trial rule in observe mode, put first, leaves an enforced review as it was.
    const trial = policyOf((doc) => doc.rules.unshift({ id: 'trial', match: { actions: ['db.drop_database'] }, outcome: 'allow', mode: 'observe' }));
    expect(decide({ action: 'db.drop_database' }, 'bot', {}, trial)).toMatchObject({ outcome: 'reject', mode: 'observe', shadow: { outcome: 'allow' } });
  });

  test('identity checks are never observe-only', () => {
    expect(decide({}, 'stranger', { mode: 'observe' })).toMatchObject({ outcome: 'reject', mode: 'enforce' });
  });
});

describe('freeze windows', () => {
  const freeze: FreezeWindow = {
    id: 'year-end',
    environments: ['production'],
    from: '2026-12-23T00:00:00Z',
    to: '2027-01-04T00:00:00Z',
    outcome: 'reject',
    reason: 'year-end change freeze',
    exemptLabels: ['read-only'],
  };
  const frozen = policyOf((doc) => doc.freezes.push(freeze));
  const at = (iso: string, patch = {}, set = frozen, overrides = {}) => evaluate({ request: request(patch), agentId: 'bot' }, set, Date.parse(iso), overrides);

  test('refuse changes from `from` (inclusive) to `to` (exclusive), matching the environment class', () => {
    expect(at('2026-12-22T23:59:59Z').outcome).toBe('review');
    expect(at('2026-12-23T00:00:00Z', { environment: 'prod-eu' })).toMatchObject({ outcome: 'reject', reason: 'change freeze year-end: year-end change freeze' });
    expect(at('2027-01-04T00:00:00Z').outcome).toBe('review');
  });

  test('leave read-only actions and other environments alone', () => {
    expect(at('2026-12-24T10:00:00Z', { action: 'logs.query' }).outcome).toBe('allow');
    expect(at('2026-12-24T10:00:00Z', { environment: 'staging' }).outcome).toBe('allow');
  });

  test('added at runtime, a review freeze sends even staging changes to its reviewers', () => {
    const runtime: FreezeWindow = { ...freeze, environments: ['staging'], outcome: 'review', review: { reviewerSet: 'sre-and-owners', quorum: 2, distinctTeams: 2, breakGlass: true, excludeAgentOwner: true } };
    const d = at('2026-12-24T10:00:00Z', { environment: 'staging' }, policy, { freezes: [runtime] });
    expect(d).toMatchObject({ outcome: 'review', review: { reviewerSet: 'sre-and-owners', quorum: 2 } });
    expect(ruleIds(d)).toEqual(['staging', 'freeze:year-end']);
  });

  test('are enforced in observe mode too', () => {
    expect(at('2026-12-24T10:00:00Z', {}, frozen, { mode: 'observe' })).toMatchObject({ outcome: 'reject', mode: 'observe' });
  });
});

describe('protected targets', () => {
  const kms = [{ type: 'aws.kms_key', id: 'arn:aws:kms:eu-west-1:1:key/abc' }];

  test('are never allowed automatically and never break-glassed', () => {
    const d = decide({ environment: 'staging', resources: kms });
    expect(d).toMatchObject({ outcome: 'review', protectedTarget: true, review: { reviewerSet: 'platform', breakGlassAllowed: false } });
    expect(ruleIds(d)).toEqual(['staging', 'protected:kms']);
  });

  test('keep a stricter review, without break-glass, and hold in observe mode and in downstream actions', () => {
    expect(decide({ action: 'iam.x', resources: kms }).review).toMatchObject({ reviewerSet: 'security', quorum: 2, breakGlassAllowed: false });
    expect(decide({ resources: kms }, 'bot', { mode: 'observe' })).toMatchObject({ outcome: 'review', mode: 'observe', protectedTarget: true });
    expect(decide({ environment: 'staging', downstream: [{ action: 'hook.fire', resources: kms }] })).toMatchObject({ outcome: 'review', protectedTarget: true });
  });
});

describe('fail closed', () => {
  test('an action missing from the catalog is reviewed by the default reviewer set', () => {
    const d = decide({ action: 'billing.refund', environment: 'staging' });
    expect(d).toMatchObject({ outcome: 'review', review: { reviewerSet: 'platform', quorum: 1 } });
    expect(d.rules).toContainEqual(expect.objectContaining({ rule: 'unknown-action', explanation: expect.stringContaining('not in the action catalog') }));
  });

  test('a rule refusing an unknown family still refuses: unknown is at least review, never less', () => {
    const strict = policyOf((doc) => doc.rules.unshift({ id: 'no-billing', outcome: 'reject', reason: 'billing is manual', match: { actions: ['billing.*'] } }));
    expect(decide({ action: 'billing.refund' }, 'bot', {}, strict)).toMatchObject({ outcome: 'reject', reason: 'billing is manual' });
  });

  test('a known action no rule decides goes to the default reviewers', () => {
    const d = decide({ action: 'hook.fire' });
    expect(d).toMatchObject({ outcome: 'review', review: { reviewerSet: 'platform' } });
    expect(ruleIds(d)).toEqual(['no-matching-rule']);
  });

  test('an unregistered agent is refused', () => {
    expect(decide({ action: 'logs.query' }, 'stranger')).toMatchObject({
      outcome: 'reject',
      reason: 'agent "stranger" is not registered in the policy',
      rules: [{ rule: 'agent-unregistered' }],
    });
  });

  test('an agent asking for an action it is not registered for is refused', () => {
    expect(decide({ action: 'logs.query' }, 'reader').outcome).toBe('allow');
    expect(decide({}, 'reader')).toMatchObject({ outcome: 'reject', reason: 'agent "reader" is not registered for action app.deploy' });
  });

  test('an executor cannot ask, and a grant for an audience no executor serves is refused', () => {
    expect(decide({}, 'runner').rules[0]?.rule).toBe('agent-not-an-agent');
    expect(decide({ audience: 'elsewhere' }).rules[0]?.rule).toBe('audience-unregistered');
    const lax = policyOf((doc) => (doc.defaults.requireRegisteredAudience = false));
    expect(decide({ audience: 'elsewhere', action: 'logs.query' }, 'bot', {}, lax).outcome).toBe('allow');
  });
});

describe('freezeProblems (runtime freezes)', () => {
  test('names what the file checks would have refused', () => {
    const base: FreezeWindow = { id: 'f', environments: ['production'], from: '2026-12-02T00:00:00Z', to: '2026-12-01T00:00:00Z', outcome: 'review', reason: 'r', exemptLabels: [] };
    const review = { quorum: 3, distinctTeams: 1, breakGlass: true, excludeAgentOwner: true };
    expect(freezeProblems({ ...base, review: { ...review, reviewerSet: 'platform' } }, policy.reviewerSets)).toEqual([
      'freeze ends (2026-12-01T00:00:00Z) before it starts (2026-12-02T00:00:00Z)',
      'quorum 3 is larger than reviewer set "platform", which lists only 2 user(s) and no user group',
    ]);
    expect(freezeProblems({ ...base, to: '2026-12-03T00:00:00Z', review: { ...review, quorum: 1, reviewerSet: 'nobody' } }, policy.reviewerSets)).toEqual([
      'reviewer set "nobody" is not defined',
    ]);
  });
});
