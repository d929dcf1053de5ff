import { z } from 'zod';
import { RISK_LEVELS, RiskLevel } from '../gate-request.js';
import { AgentRegistration } from './agents.js';

/**
 * The policy file format (policies/*.yaml). Every file may hold any subset of the top-level
 * sections; the loader merges them in file-name order. The JSON Schema in policies/schema.json
 * is generated from `PolicyFile`, so editors and the loader agree on one definition.
 *
 * No transforms here: `z.toJSONSchema` must be able to represent every schema.
 */

/** Sensitivity labels of the action catalog. */
export const LABELS = ['production-change', 'data-sensitive', 'privilege-amplifying', 'irreversible', 'read-only'] as const;
export const Label = z.enum(LABELS);
export type Label = z.infer<typeof Label>;

/** How an action can be undone: at once, with effort (compensating change, restore), or not at all. */
export const REVERSIBILITY = ['reversible', 'compensatable', 'irreversible'] as const;
export const Reversibility = z.enum(REVERSIBILITY);
export type Reversibility = z.infer<typeof Reversibility>;

/** Data classes, from least to most sensitive (the order matters: a declaration may only raise). */
export const DATA_CLASSES = ['public', 'internal', 'confidential', 'pii', 'financial', 'regulated', 'secret'] as const;
export const DataClass = z.enum(DATA_CLASSES);
export type DataClass = z.infer<typeof DataClass>;

export const RULE_MODES = ['enforce', 'observe'] as const;
export const RuleModeSchema = z.enum(RULE_MODES);

/** Ids of policy entries (rules, sets, assets …): lowercase, dots and dashes allowed. */
export const POLICY_ID = /^[a-z][a-z0-9_.-]{0,127}$/;
const policyId = z.string().regex(POLICY_ID, { message: 'must be a lowercase id such as "prod-changes"' });

/** Action ids in the catalog: an exact id (`k8s.deploy`) or a family (`iam.*`). */
export const CATALOG_ACTION_ID = /^[a-z][a-z0-9_]*(?:[.-][a-z0-9_]+)*(?:\.\*)?$/;
/** `*` matches any run of characters, `?` one character; everything else is literal. */
const glob = z.string().min(1).max(1_024);
const globs = z.array(glob).min(1);

const SLACK_USERGROUP = /^S[A-Z0-9]{2,20}$/;
const SLACK_USER = /^[UW][A-Z0-9]{2,20}$/;
const SLACK_CHANNEL = /^[CG][A-Z0-9]{2,20}$/;
const team = z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, { message: 'must be a lowercase team label such as "sre"' });
const channel = z.string().regex(SLACK_CHANNEL, { message: 'must be a Slack channel id such as "C0123ABCD"' });
const seconds = (min: number, max: number) => z.number().int().min(min).max(max);

/** Matches resources by type and id glob; at least one of the two. */
export const ResourcePattern = z.strictObject({
  type: glob.optional().describe('glob on the resource type, e.g. "aws.*"'),
  id: glob.optional().describe('glob on the resource id, e.g. "prod-*/checkout"'),
});
export type ResourcePattern = z.infer<typeof ResourcePattern>;

/** A named class of environments (`production` covers `prod`, `prod-eu` …) and its base risk. */
export const EnvironmentClass = z.strictObject({
  id: policyId,
  description: z.string().max(500).optional(),
  match: globs.describe('globs on the request environment'),
  risk: RiskLevel.describe('risk of changes in this environment'),
});
export type EnvironmentClass = z.infer<typeof EnvironmentClass>;

/** Raises labels when the evidence (diff and commands) matches, e.g. `DROP COLUMN` → irreversible. */
export const EvidenceTrigger = z.strictObject({
  matches: z.string().min(1).max(1_000).describe('regular expression, case-insensitive, on evidence.diff and evidence.commands'),
  labels: z.array(Label).default([]),
  reversibility: Reversibility.optional(),
  explanation: z.string().min(1).max(500),
});
export type EvidenceTrigger = z.output<typeof EvidenceTrigger>;

/** One action of the catalog. */
export const CatalogAction = z.strictObject({
  id: z.string().regex(CATALOG_ACTION_ID, { message: 'must be an action id ("k8s.deploy") or a family ("iam.*")' }),
  description: z.string().max(500).optional(),
  labels: z.array(Label).default([]),
  reversibility: Reversibility,
  risk: RiskLevel.optional().describe('a floor for the risk of this action'),
  evidence: z.array(EvidenceTrigger).default([]),
});
export type CatalogAction = z.output<typeof CatalogAction>;

/** Criticality and data classes of resources matched by pattern. */
export const Asset = z.strictObject({
  id: policyId,
  description: z.string().max(500).optional(),
  match: z.array(ResourcePattern).min(1),
  criticality: RiskLevel.default('low'),
  dataClasses: z.array(DataClass).default([]),
  region: z.string().min(1).max(64).optional(),
  environment: policyId
    .optional()
    .describe('the environment class the resource lives in: a request that names a milder environment is judged as in this one'),
});
export type Asset = z.output<typeof Asset>;

/** A reviewer group: its Slack user group or user, and the team it counts for. */
export const ReviewerMember = z.strictObject({
  id: z.string().min(1),
  team: team.optional(),
});

/** Who may review, and where the change record is posted. */
export const ReviewerSet = z.strictObject({
  id: policyId,
  description: z.string().max(500).optional(),
  channel,
  team: team.optional().describe('team of every member without its own'),
  usergroups: z
    .array(ReviewerMember.extend({ id: z.string().regex(SLACK_USERGROUP, { message: 'must be a Slack user group id such as "S0123ABCD"' }) }))
    .default([]),
  users: z
    .array(ReviewerMember.extend({ id: z.string().regex(SLACK_USER, { message: 'must be a Slack user id such as "U0123ABCD"' }) }))
    .default([]),
});
export type ReviewerSet = z.output<typeof ReviewerSet>;

/** What a `review` outcome asks for. */
export const ReviewSpec = z.strictObject({
  reviewerSet: policyId,
  quorum: z.number().int().min(1).max(10).default(1),
  distinctTeams: z.number().int().min(1).max(10).default(1),
  reviewWindowSeconds: seconds(60, 30 * 24 * 3600).optional(),
  grantTtlSeconds: seconds(10, 24 * 3600).optional(),
  breakGlass: z.boolean().default(true).describe('whether an admin may break glass on this review'),
  excludeAgentOwner: z.boolean().default(true).describe("the agent's owner may not approve"),
  escalateTo: policyId.optional(),
});
export type ReviewSpec = z.output<typeof ReviewSpec>;

/** Conditions of a rule; all present conditions must hold, list entries are alternatives. */
export const RuleMatch = z.strictObject({
  actions: globs.optional().describe('globs on the action id, e.g. "iam.*"'),
  labels: z.array(Label).min(1).optional().describe('any of these labels'),
  environments: globs.optional().describe('globs on the environment name or its class id'),
  risk: z
    .strictObject({ atLeast: RiskLevel.optional(), atMost: RiskLevel.optional() })
    .optional(),
  resources: z.array(ResourcePattern).min(1).optional().describe('any resource matches any pattern'),
  agents: globs.optional(),
  dataClasses: z.array(DataClass).min(1).optional().describe('any resource holds any of these classes'),
  crossRegion: z.boolean().optional().describe('resources span more than one region, or one has a region and another none'),
});
export type RuleMatch = z.output<typeof RuleMatch>;

export const OUTCOMES = ['allow', 'review', 'reject'] as const;

/** One ordered rule: the first rule that matches an action decides it. */
export const Rule = z.strictObject({
  id: policyId,
  description: z.string().max(500).optional().describe('shown to reviewers as the reason'),
  mode: RuleModeSchema.optional().describe('defaults to defaults.mode'),
  match: RuleMatch.default({}),
  outcome: z.enum(OUTCOMES),
  review: ReviewSpec.optional().describe('required when outcome is review'),
  reason: z.string().min(1).max(500).optional().describe('required when outcome is reject'),
});
export type Rule = z.output<typeof Rule>;

/** Resources that are never allowed automatically and never break-glassed. */
export const ProtectedTarget = z.strictObject({
  id: policyId,
  match: z.array(ResourcePattern).min(1),
  reason: z.string().min(1).max(500),
  review: ReviewSpec.optional().describe('who reviews when no stricter rule applies; default: defaults.defaultReviewerSet'),
});
export type ProtectedTarget = z.output<typeof ProtectedTarget>;

const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time with a zone, e.g. "2026-12-24T00:00:00Z"' });

/** A change freeze: in these environments, between `from` and `to`, changes are reviewed or refused. */
export const FreezeWindow = z.strictObject({
  id: policyId,
  environments: globs,
  from: isoTime,
  to: isoTime,
  outcome: z.enum(['review', 'reject']),
  reason: z.string().min(1).max(500),
  review: ReviewSpec.optional(),
  actions: globs.optional().describe('limit the freeze to these actions'),
  exemptLabels: z.array(Label).default(['read-only']).describe('actions with any of these labels are not frozen'),
});
export type FreezeWindow = z.output<typeof FreezeWindow>;

/** Blast-radius thresholds of the risk classifier. */
export const BlastRadius = z.strictObject({
  resourcesMedium: z.number().int().min(1).default(5),
  resourcesHigh: z.number().int().min(1).default(20),
  downstreamMedium: z.number().int().min(1).default(2),
  downstreamHigh: z.number().int().min(1).default(5),
});

/** Set-wide settings. Exactly one file declares them. */
export const Defaults = z.strictObject({
  defaultReviewerSet: policyId.describe('reviews unknown actions and anything no rule decides'),
  mode: RuleModeSchema.default('enforce'),
  grantTtlSeconds: seconds(10, 24 * 3600).default(300),
  maxGrantTtlSeconds: seconds(10, 24 * 3600).default(900),
  executionWindowSeconds: seconds(10, 24 * 3600).default(600),
  reviewWindowSeconds: seconds(60, 30 * 24 * 3600).default(3600),
  maxReviewWindowSeconds: seconds(60, 30 * 24 * 3600).default(7 * 24 * 3600),
  securityChannel: channel.describe('where break-glass and policy reload failures are posted'),
  requireRegisteredAudience: z.boolean().default(true).describe("a request's audience must be served by a registered executor"),
  blastRadius: BlastRadius.default({ resourcesMedium: 5, resourcesHigh: 20, downstreamMedium: 2, downstreamHigh: 5 }),
});
export type Defaults = z.output<typeof Defaults>;

/** One policy file: any subset of the sections. */
export const PolicyFile = z.strictObject({
  environments: z.array(EnvironmentClass).optional(),
  actions: z.array(CatalogAction).optional(),
  assets: z.array(Asset).optional(),
  protectedTargets: z.array(ProtectedTarget).optional(),
  reviewerSets: z.array(ReviewerSet).optional(),
  rules: z.array(Rule).optional(),
  freezes: z.array(FreezeWindow).optional(),
  agents: z.array(AgentRegistration).optional(),
  defaults: Defaults.optional(),
});
export type PolicyFile = z.output<typeof PolicyFile>;

/** The list sections of a policy file, in merge order. */
export const LIST_SECTIONS = ['environments', 'actions', 'assets', 'protectedTargets', 'reviewerSets', 'rules', 'freezes', 'agents'] as const;
export type ListSection = (typeof LIST_SECTIONS)[number];

/** Item schema of each list section, used to keep the valid entries of a file that has errors. */
export const SECTION_ITEM = {
  environments: EnvironmentClass,
  actions: CatalogAction,
  assets: Asset,
  protectedTargets: ProtectedTarget,
  reviewerSets: ReviewerSet,
  rules: Rule,
  freezes: FreezeWindow,
  agents: AgentRegistration,
} as const;

/** Risk levels in increasing order, for comparisons. */
export const RISK_ORDER: Readonly<Record<RiskLevel, number>> = Object.fromEntries(RISK_LEVELS.map((l, i) => [l, i])) as Record<
  RiskLevel,
  number
>;
