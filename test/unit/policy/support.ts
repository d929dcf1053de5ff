import { buildPolicySet } from '../../../src/core/policy/build.js';
import type { PolicySet } from '../../../src/core/policy/types.js';
import type { BoundedAction } from '../../../src/core/gate-request.js';

/**
 * A small policy set for engine tests, independent of the default set in policies/ so that
 * editing the shipped policy never changes what these tests mean.
 */
export function basePolicy(): Record<string, unknown> {
  return {
    environments: [
      { id: 'production', match: ['production', 'prod-*'], risk: 'high' },
      { id: 'staging', match: ['staging', 'staging-*'], risk: 'low' },
    ],
    actions: [
      { id: 'logs.query', labels: ['read-only'], reversibility: 'reversible' },
      { id: 'app.deploy', labels: ['production-change'], reversibility: 'reversible' },
      {
        id: 'db.migrate',
        labels: ['production-change'],
        reversibility: 'compensatable',
        evidence: [{ matches: '\\bdrop\\s+column\\b', labels: ['irreversible'], explanation: 'drops a column' }],
      },
      { id: 'db.restore', labels: ['production-change'], reversibility: 'irreversible' },
      { id: 'db.drop_database', labels: ['production-change'], reversibility: 'irreversible' },
      { id: 'data.export', labels: ['data-sensitive'], reversibility: 'compensatable' },
      { id: 'iam.*', labels: ['privilege-amplifying'], reversibility: 'compensatable' },
      { id: 'hook.fire', labels: [], reversibility: 'reversible' },
    ],
    assets: [
      { id: 'orders', match: [{ type: 'postgres.table', id: 'shop/*' }], criticality: 'high', dataClasses: ['financial'], region: 'eu' },
      { id: 'us-buckets', match: [{ type: 's3.bucket', id: 's3://us-*' }], region: 'us' },
    ],
    protectedTargets: [{ id: 'kms', match: [{ type: 'aws.kms_key' }], reason: 'encryption keys' }],
    reviewerSets: [
      { id: 'platform', channel: 'C0PLATFORM', team: 'platform', users: [{ id: 'U0PLAT1' }, { id: 'U0PLAT2' }] },
      { id: 'owners', channel: 'C0OWNERS', usergroups: [{ id: 'S0OWNERS', team: 'owners' }] },
      {
        id: 'security',
        channel: 'C0SECURITY',
        team: 'security',
        users: [{ id: 'U0SEC1' }, { id: 'U0SEC2' }, { id: 'U0IDN1', team: 'identity' }],
      },
      { id: 'sre-and-owners', channel: 'C0CHANGES', team: 'owners', usergroups: [{ id: 'S0SRE', team: 'sre' }, { id: 'S0OWNERS' }] },
    ],
    rules: [
      { id: 'reads', outcome: 'allow', match: { labels: ['read-only'] } },
      { id: 'never-drop-databases', outcome: 'reject', reason: 'databases are dropped by hand', match: { actions: ['db.drop_database'] } },
      { id: 'identity', outcome: 'review', match: { labels: ['privilege-amplifying'] }, review: { reviewerSet: 'security', quorum: 2, grantTtlSeconds: 120 } },
      { id: 'sensitive-data', outcome: 'review', match: { labels: ['data-sensitive'] }, review: { reviewerSet: 'owners' } },
      { id: 'staging', outcome: 'allow', match: { environments: ['staging'] } },
      {
        id: 'irreversible',
        outcome: 'review',
        match: { environments: ['production'], labels: ['irreversible'] },
        review: { reviewerSet: 'sre-and-owners', quorum: 2, distinctTeams: 2, breakGlass: false },
      },
      { id: 'prod-changes', outcome: 'review', match: { environments: ['production'], labels: ['production-change'] }, review: { reviewerSet: 'owners' } },
    ],
    freezes: [],
    agents: [
      { id: 'bot', owner: 'U0OWNER', auth: { method: 'hmac', secretEnv: 'BOT_SECRET' }, actions: ['*'] },
      { id: 'reader', owner: 'U0OWNER', auth: { method: 'hmac', secretEnv: 'READER_SECRET' }, actions: ['logs.query'] },
      { id: 'runner', role: 'executor', owner: 'U0OWNER', auth: { method: 'hmac', secretEnv: 'RUNNER_SECRET' }, actions: ['runner'] },
    ],
    defaults: { defaultReviewerSet: 'platform', securityChannel: 'C0SECURITY' },
  };
}

/** Builds a policy set from `basePolicy()` after `edit`; throws with every issue when it is invalid. */
export function policyOf(edit: (doc: Record<string, any>) => void = () => {}): PolicySet {
  const doc = basePolicy() as Record<string, any>;
  edit(doc);
  const built = buildPolicySet([{ file: 'policy.yaml', data: doc }]);
  if (!built.ok) throw new Error(built.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
  return built.policy;
}

/** A valid bounded action; `patch` replaces top-level fields. */
export function request(patch: Partial<BoundedAction> = {}): BoundedAction {
  return {
    action: 'app.deploy',
    summary: 'Deploy web 1.2.3',
    environment: 'production',
    resources: [{ type: 'k8s.deployment', id: 'prod-eu/web' }],
    permissions: [{ name: 'apps/deployments:patch', reason: 'roll the image' }],
    evidence: { commands: ['kubectl rollout'] },
    impact: { expected: 'web runs 1.2.3', rollback: 'kubectl rollout undo' },
    context: { requester: { email: 'ana@example.com' }, agentSession: 'sess_1' },
    audience: 'runner',
    ...patch,
  };
}

/** 2026-11-23T12:00:00Z: a fixed clock for every evaluation. */
export const NOW = Date.parse('2026-11-23T12:00:00Z');
