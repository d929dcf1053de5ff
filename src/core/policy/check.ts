import type { AgentRegistration } from './agents.js';
import { isGlob } from './patterns.js';
import type {
  Asset,
  CatalogAction,
  Defaults,
  EnvironmentClass,
  FreezeWindow,
  ListSection,
  ProtectedTarget,
  ReviewerSet,
  ReviewSpec,
  Rule,
} from './schema.js';
import type { PolicyIssue } from './types.js';

/**
 * Checks that span entries and files: ids, references, feasibility of quorums. zod has
 * already checked each entry on its own; these are the mistakes zod cannot see.
 */

/** An entry together with where it was written. */
export interface Sourced<T> {
  file: string;
  path: Array<string | number>;
  value: T;
}

/** Every valid entry of every file, by section. */
export interface PolicySources {
  environments: Sourced<EnvironmentClass>[];
  actions: Sourced<CatalogAction>[];
  assets: Sourced<Asset>[];
  protectedTargets: Sourced<ProtectedTarget>[];
  reviewerSets: Sourced<ReviewerSet>[];
  rules: Sourced<Rule>[];
  freezes: Sourced<FreezeWindow>[];
  agents: Sourced<AgentRegistration>[];
  defaults: Sourced<Defaults>[];
}

/** Ids of entries that failed validation: references to them are not reported twice. */
export type BrokenIds = Record<ListSection, Set<string>> & { defaults: boolean };

/** Rule ids the evaluator uses for its own verdicts. */
export const BUILTIN_RULE_IDS = [
  'agent-unregistered',
  'agent-not-an-agent',
  'agent-not-permitted',
  'audience-unregistered',
  'unknown-action',
  'no-matching-rule',
] as const;

const SECTION_NOUN: Record<ListSection, string> = {
  environments: 'environment class',
  actions: 'catalog action',
  assets: 'asset',
  protectedTargets: 'protected target',
  reviewerSets: 'reviewer set',
  rules: 'rule',
  freezes: 'freeze',
  agents: 'agent',
};

/** Runs every cross-entry check and returns all problems found. */
export function checkPolicy(src: PolicySources, broken: BrokenIds, firstFile: string): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const at = (s: Sourced<unknown>, sub: Array<string | number>, message: string) =>
    issues.push({ file: s.file, path: [...s.path, ...sub], message });

  for (const section of Object.keys(SECTION_NOUN) as ListSection[]) {
    const seen = new Map<string, string>();
    for (const entry of src[section] as Sourced<{ id: string }>[]) {
      const first = seen.get(entry.value.id);
      if (first !== undefined) at(entry, ['id'], `duplicate ${SECTION_NOUN[section]} id "${entry.value.id}" (first declared in ${first})`);
      else seen.set(entry.value.id, entry.file);
    }
  }

  const [defaults, ...extraDefaults] = src.defaults;
  for (const extra of extraDefaults) at(extra, [], `defaults are declared again (first in ${defaults!.file}); declare them once`);
  if (defaults === undefined && !broken.defaults) {
    issues.push({ file: firstFile, path: [], message: 'no file declares `defaults` (defaultReviewerSet and securityChannel are required)' });
  }

  // The first declaration counts; later duplicates are reported above.
  const sets = new Map<string, ReviewerSet>();
  for (const s of src.reviewerSets) if (!sets.has(s.value.id)) sets.set(s.value.id, s.value);
  const setExists = (id: string) => sets.has(id) || broken.reviewerSets.has(id);
  for (const s of src.reviewerSets) {
    if (s.value.usergroups.length === 0 && s.value.users.length === 0) at(s, [], `reviewer set "${s.value.id}" has no user groups and no users`);
  }

  const checkReview = (owner: Sourced<unknown>, sub: Array<string | number>, review: ReviewSpec) => {
    const where = [...sub, 'review'];
    if (!setExists(review.reviewerSet)) {
      at(owner, [...where, 'reviewerSet'], `reviewer set "${review.reviewerSet}" is not defined`);
    }
    if (review.escalateTo !== undefined && !setExists(review.escalateTo)) {
      at(owner, [...where, 'escalateTo'], `reviewer set "${review.escalateTo}" is not defined`);
    }
    if (review.distinctTeams > review.quorum) {
      at(owner, [...where, 'distinctTeams'], `distinctTeams ${review.distinctTeams} needs at least as many approvals, but quorum is ${review.quorum}`);
    }
    const set = sets.get(review.reviewerSet);
    if (set !== undefined) {
      for (const problem of feasibility(set, review)) at(owner, [...where, problem.field], problem.message);
    }
    if (defaults !== undefined) {
      const d = defaults.value;
      if (review.grantTtlSeconds !== undefined && review.grantTtlSeconds > d.maxGrantTtlSeconds) {
        at(owner, [...where, 'grantTtlSeconds'], `grantTtlSeconds ${review.grantTtlSeconds} exceeds defaults.maxGrantTtlSeconds (${d.maxGrantTtlSeconds})`);
      }
      if (review.reviewWindowSeconds !== undefined && review.reviewWindowSeconds > d.maxReviewWindowSeconds) {
        at(owner, [...where, 'reviewWindowSeconds'], `reviewWindowSeconds ${review.reviewWindowSeconds} exceeds defaults.maxReviewWindowSeconds (${d.maxReviewWindowSeconds})`);
      }
    }
  };

  const catalogIds = new Set(src.actions.map((a) => a.value.id));
  const knownAction = (id: string) => {
    if (catalogIds.has(id) || broken.actions.has(id)) return true;
    const parts = id.split('.');
    for (let i = parts.length - 1; i > 0; i -= 1) if (catalogIds.has(`${parts.slice(0, i).join('.')}.*`)) return true;
    return false;
  };
  const agentIds = new Set(src.agents.map((a) => a.value.id));
  const reserved = new Set<string>(BUILTIN_RULE_IDS);

  for (const r of src.rules) {
    const rule = r.value;
    if (reserved.has(rule.id)) at(r, ['id'], `rule id "${rule.id}" is reserved for a built-in check`);
    if (rule.outcome === 'review' && rule.review === undefined) at(r, ['outcome'], 'a rule with outcome review needs a `review` block');
    if (rule.outcome !== 'review' && rule.review !== undefined) at(r, ['review'], `\`review\` applies only to outcome review, not ${rule.outcome}`);
    if (rule.outcome === 'reject' && rule.reason === undefined) at(r, ['outcome'], 'a rule with outcome reject needs a `reason`');
    if (rule.outcome !== 'reject' && rule.reason !== undefined) at(r, ['reason'], `\`reason\` applies only to outcome reject, not ${rule.outcome}`);
    if (rule.review !== undefined) checkReview(r, [], rule.review);
    rule.match.actions?.forEach((pattern, i) => {
      if (!isGlob(pattern) && !knownAction(pattern.toLowerCase())) at(r, ['match', 'actions', i], `action "${pattern}" is not in the action catalog`);
    });
    rule.match.agents?.forEach((pattern, i) => {
      if (!isGlob(pattern) && !agentIds.has(pattern) && !broken.agents.has(pattern)) {
        at(r, ['match', 'agents', i], `agent "${pattern}" is not registered`);
      }
    });
    const { atLeast, atMost } = rule.match.risk ?? {};
    if (atLeast !== undefined && atMost !== undefined && RISK_INDEX[atLeast] > RISK_INDEX[atMost]) {
      at(r, ['match', 'risk'], `risk.atLeast ${atLeast} is above risk.atMost ${atMost}: the rule can never match`);
    }
  }

  for (const p of src.protectedTargets) {
    if (p.value.review !== undefined) checkReview(p, [], p.value.review);
  }
  for (const f of src.freezes) {
    const freeze = f.value;
    if (Date.parse(freeze.from) >= Date.parse(freeze.to)) at(f, ['to'], `freeze ends (${freeze.to}) before it starts (${freeze.from})`);
    if (freeze.outcome === 'reject' && freeze.review !== undefined) at(f, ['review'], '`review` applies only to outcome review');
    if (freeze.review !== undefined) checkReview(f, [], freeze.review);
  }

  for (const a of src.actions) {
    const labels = new Set(a.value.labels);
    if (labels.has('read-only')) {
      for (const clash of ['production-change', 'privilege-amplifying', 'irreversible'] as const) {
        if (labels.has(clash)) at(a, ['labels'], `label read-only contradicts ${clash}`);
      }
      if (a.value.reversibility === 'irreversible') at(a, ['reversibility'], 'a read-only action cannot be irreversible');
    }
    a.value.evidence.forEach((trigger, i) => {
      try {
        new RegExp(trigger.matches, 'i');
      } catch (err) {
        at(a, ['evidence', i, 'matches'], `not a valid regular expression: ${(err as Error).message}`);
      }
    });
  }

  const envIds = new Set(src.environments.map((e) => e.value.id));
  for (const a of src.assets) {
    const env = a.value.environment;
    if (env !== undefined && !envIds.has(env)) at(a, ['environment'], `environment class "${env}" is not defined`);
  }

  const envPatterns = new Map<string, string>();
  for (const e of src.environments) {
    e.value.match.forEach((pattern, i) => {
      const owner = envPatterns.get(pattern);
      if (owner !== undefined && owner !== e.value.id) at(e, ['match', i], `environment pattern "${pattern}" already belongs to class "${owner}"`);
      envPatterns.set(pattern, e.value.id);
    });
  }

  if (defaults !== undefined) {
    const d = defaults.value;
    if (!setExists(d.defaultReviewerSet)) at(defaults, ['defaultReviewerSet'], `reviewer set "${d.defaultReviewerSet}" is not defined`);
    if (d.grantTtlSeconds > d.maxGrantTtlSeconds) at(defaults, ['grantTtlSeconds'], `grantTtlSeconds exceeds maxGrantTtlSeconds (${d.maxGrantTtlSeconds})`);
    if (d.reviewWindowSeconds > d.maxReviewWindowSeconds) {
      at(defaults, ['reviewWindowSeconds'], `reviewWindowSeconds exceeds maxReviewWindowSeconds (${d.maxReviewWindowSeconds})`);
    }
    const b = d.blastRadius;
    if (b.resourcesMedium > b.resourcesHigh) at(defaults, ['blastRadius', 'resourcesMedium'], 'resourcesMedium is above resourcesHigh');
    if (b.downstreamMedium > b.downstreamHigh) at(defaults, ['blastRadius', 'downstreamMedium'], 'downstreamMedium is above downstreamHigh');
  }
  return issues;
}

const RISK_INDEX = { low: 0, medium: 1, high: 2, critical: 3 } as const;

/** Whether a reviewer set can ever satisfy a review: enough people, enough teams. */
export function feasibility(set: ReviewerSet, review: Pick<ReviewSpec, 'quorum' | 'distinctTeams'>): Array<{ field: string; message: string }> {
  const problems: Array<{ field: string; message: string }> = [];
  if (set.usergroups.length === 0 && set.users.length < review.quorum) {
    problems.push({
      field: 'quorum',
      message: `quorum ${review.quorum} is larger than reviewer set "${set.id}", which lists only ${set.users.length} user(s) and no user group`,
    });
  }
  if (review.distinctTeams > 1) {
    const members = [...set.usergroups, ...set.users];
    const unlabelled = members.filter((m) => (m.team ?? set.team) === undefined).map((m) => m.id);
    if (unlabelled.length > 0) {
      problems.push({ field: 'distinctTeams', message: `distinctTeams needs a team on every member of "${set.id}"; ${unlabelled.join(', ')} has none` });
    }
    const teams = new Set(members.map((m) => m.team ?? set.team).filter((t) => t !== undefined));
    if (teams.size < review.distinctTeams) {
      problems.push({
        field: 'distinctTeams',
        message: `distinctTeams ${review.distinctTeams} is more than the ${teams.size} team(s) in reviewer set "${set.id}"`,
      });
    }
  }
  return problems;
}

/**
 * Problems with a freeze added at runtime (the admin command), in the words of the file
 * checks: the evaluator would otherwise fall back to the default reviewers in silence.
 */
export function freezeProblems(freeze: FreezeWindow, sets: ReadonlyMap<string, ReviewerSet>): string[] {
  const problems: string[] = [];
  if (Date.parse(freeze.from) >= Date.parse(freeze.to)) problems.push(`freeze ends (${freeze.to}) before it starts (${freeze.from})`);
  if (freeze.outcome === 'reject' && freeze.review !== undefined) problems.push('`review` applies only to outcome review');
  const review = freeze.review;
  if (review !== undefined) {
    const set = sets.get(review.reviewerSet);
    if (set === undefined) problems.push(`reviewer set "${review.reviewerSet}" is not defined`);
    else problems.push(...feasibility(set, review).map((p) => p.message));
    if (review.distinctTeams > review.quorum) problems.push(`distinctTeams ${review.distinctTeams} needs at least as many approvals, but quorum is ${review.quorum}`);
  }
  return problems;
}
