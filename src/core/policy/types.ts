import type { RuleMode } from '../decision.js';
import type { Resource } from '../gate-request.js';
import type { AgentRegistration } from './agents.js';
import type { Matcher } from './patterns.js';
import type {
  Asset,
  CatalogAction,
  Defaults,
  EnvironmentClass,
  EvidenceTrigger,
  FreezeWindow,
  Label,
  ProtectedTarget,
  ReviewerSet,
  Rule,
} from './schema.js';

export type { FreezeWindow } from './schema.js';

/** The merged, validated content of every policy file, in file-name order. */
export interface PolicyDocument {
  environments: EnvironmentClass[];
  actions: CatalogAction[];
  assets: Asset[];
  protectedTargets: ProtectedTarget[];
  reviewerSets: ReviewerSet[];
  rules: Rule[];
  freezes: FreezeWindow[];
  agents: AgentRegistration[];
  defaults: Defaults;
}

/** A catalog entry with its labels as a set and its evidence triggers compiled. */
export interface CompiledAction {
  entry: CatalogAction;
  labels: ReadonlySet<Label>;
  /** `irreversible` whenever the label says so. */
  reversibility: CatalogAction['reversibility'];
  evidence: ReadonlyArray<{ regex: RegExp; trigger: EvidenceTrigger }>;
}

export interface CompiledAsset {
  asset: Asset;
}

export interface CompiledProtected {
  target: ProtectedTarget;
}

/** A freeze with its times parsed and its patterns compiled. */
export interface CompiledFreeze {
  freeze: FreezeWindow;
  from: number;
  to: number;
  environments: Matcher;
  actions: Matcher | undefined;
}

/** Facts about one action of a request (the main action or one downstream action). */
export interface SubjectFacts {
  /** `action`, or `downstream[i]`. */
  subject: string;
  action: string;
  catalog: CompiledAction | undefined;
  /** Catalog labels, plus those raised by evidence triggers and by sensitive data. */
  labels: ReadonlySet<Label>;
  reversibility: CatalogAction['reversibility'];
  resources: readonly Resource[];
  /** Data classes of the resources (assets and the agent's declarations). */
  dataClasses: ReadonlySet<string>;
  regions: ReadonlySet<string>;
  /**
   * The resources may span regions: they name two or more, or one names a region and another
   * none (a destination of unknown region is not taken to be in the same one).
   */
  crossRegion: boolean;
  /** Highest asset criticality among the resources (index into RISK_LEVELS). */
  criticality: number;
  assets: readonly CompiledAsset[];
  protectedHits: readonly CompiledProtected[];
  /** Evidence triggers that fired (main action only). */
  triggers: readonly EvidenceTrigger[];
}

/** A rule with its conditions compiled. `test` assumes the action already matched (see `rulesFor`). */
export interface CompiledRule {
  rule: Rule;
  test: (subject: SubjectFacts, request: RequestContext) => boolean;
}

/** What every rule condition outside the subject looks at. */
export interface RequestContext {
  environment: string;
  environmentClass: string | undefined;
  agentId: string;
  /** Index into RISK_LEVELS of the request's risk. */
  risk: number;
}

/**
 * Structures precompiled at load so that one evaluation does lookups, not parsing. Methods
 * are deterministic; `rulesFor` memoizes per action id (bounded), which changes no result.
 */
export interface PolicyIndex {
  action(id: string): CompiledAction | undefined;
  environment(name: string): EnvironmentClass | undefined;
  /** Shared, memoized results: never modify them. */
  assetsFor(resource: Resource): readonly CompiledAsset[];
  protectedFor(resource: Resource): readonly CompiledProtected[];
  rulesFor(action: string): readonly CompiledRule[];
  freezes: readonly CompiledFreeze[];
  /** True when some registered executor serves this grant audience. */
  servesAudience(audience: string): boolean;
}

/** A loaded, merged and validated policy set. Immutable once built. */
export interface PolicySet {
  /** `sha256:` + hex of the canonical JSON (RFC 8785) of `document`. */
  version: string;
  document: PolicyDocument;
  agents: ReadonlyMap<string, AgentRegistration>;
  reviewerSets: ReadonlyMap<string, ReviewerSet>;
  defaults: Defaults;
  rules: readonly Rule[];
  index: PolicyIndex;
}

/** What admins change at runtime without editing the files. Runtime settings win over files. */
export interface PolicyOverrides {
  /** Global mode for every rule that has no runtime per-rule mode. */
  mode?: RuleMode;
  /** Per rule id (built-in ids such as `unknown-action` included). */
  ruleModes?: Record<string, RuleMode>;
  /** Extra freezes, on top of those in the files. */
  freezes?: FreezeWindow[];
}

/** A problem found in the policy files, located by file and path inside that file. */
export interface PolicyIssue {
  file: string;
  path: Array<string | number>;
  message: string;
}

/** One parsed policy file handed to the builder. */
export interface PolicyFileInput {
  /** Name relative to the policy directory, used in messages. */
  file: string;
  data: unknown;
  /** The file has syntax errors (reported elsewhere); `data` is partial and only its ids are used. */
  unparsable?: boolean;
}
