import { sha256OfJson } from '../evidence-hash.js';
import type { AgentRegistration } from './agents.js';
import { compileGlobs, isGlob, type Matcher, ResourceIndex, ResourceMatcher } from './patterns.js';
import { RISK_ORDER, type EnvironmentClass, type FreezeWindow, type ResourcePattern, type Rule } from './schema.js';
import type { Resource } from '../gate-request.js';
import type {
  CompiledAction,
  CompiledAsset,
  CompiledFreeze,
  CompiledProtected,
  CompiledRule,
  PolicyDocument,
  PolicyIndex,
  PolicySet,
  RequestContext,
  SubjectFacts,
} from './types.js';

/**
 * Turns a validated policy document into a `PolicySet` whose lookups are precompiled:
 * globs are parsed once, catalog, assets and rules are indexed, lookups are memoized.
 */

/** How many distinct action ids the rule memo remembers; unknown ids beyond it are not cached. */
const RULE_MEMO_LIMIT = 10_000;

/** Compiles a validated document. Assumes `checkPolicy` found no problem. */
export function compilePolicySet(document: PolicyDocument): PolicySet {
  const agents = new Map<string, AgentRegistration>(document.agents.map((a) => [a.id, a]));
  return {
    version: sha256OfJson(document),
    document,
    agents,
    reviewerSets: new Map(document.reviewerSets.map((s) => [s.id, s])),
    defaults: document.defaults,
    rules: document.rules,
    index: buildIndex(document),
  };
}

function buildIndex(doc: PolicyDocument): PolicyIndex {
  const exactActions = new Map<string, CompiledAction>();
  const families: Array<{ prefix: string; action: CompiledAction }> = [];
  for (const entry of doc.actions) {
    // The label and the reversibility say the same thing: keep them in step so rules and the
    // risk classifier each need to look in one place.
    const irreversible = entry.reversibility === 'irreversible' || entry.labels.includes('irreversible');
    const compiled: CompiledAction = {
      entry,
      labels: new Set([...entry.labels, ...(irreversible ? (['irreversible'] as const) : [])]),
      reversibility: irreversible ? 'irreversible' : entry.reversibility,
      evidence: entry.evidence.map((trigger) => ({ regex: new RegExp(trigger.matches, 'i'), trigger })),
    };
    if (entry.id.endsWith('.*')) families.push({ prefix: entry.id.slice(0, -1), action: compiled });
    else exactActions.set(entry.id, compiled);
  }
  // The most specific family wins: `iam.role.*` before `iam.*`.
  families.sort((a, b) => b.prefix.length - a.prefix.length);

  const environments = doc.environments.map((env) => ({ env, matches: compileGlobs(env.match) }));
  const envMemo = new Map<string, EnvironmentClass | undefined>();

  // Assets and protected targets match whatever the letter case (IAM role names are unique
  // without regard to it, and `CRM-PROD/…` must not shed the classes of `crm-prod/…`): both
  // sides are compared lowercase, so neither sensitivity nor a protection is lost by case.
  const assets = new ResourceIndex(
    doc.assets.map((asset): CompiledAsset => ({ asset })),
    (a) => lowercase(a.asset.match),
  );
  const protectedTargets = new ResourceIndex(
    doc.protectedTargets.map((target): CompiledProtected => ({ target })),
    (p) => lowercase(p.target.match),
  );

  const rules = doc.rules.map(compileRule);
  const ruleMemo = new Map<string, readonly CompiledRule[]>();
  const ruleIndex = new ActionRuleIndex(doc.rules);

  const audiences = compileGlobs(doc.agents.filter((a) => a.role === 'executor').flatMap((a) => a.actions));
  const hasExecutors = doc.agents.some((a) => a.role === 'executor' && a.actions.length > 0);

  return {
    action(id) {
      const exact = exactActions.get(id);
      if (exact !== undefined) return exact;
      for (const family of families) if (id.startsWith(family.prefix)) return family.action;
      return undefined;
    },
    environment(name) {
      if (envMemo.has(name)) return envMemo.get(name);
      const found = environments.find((e) => e.matches.test(name))?.env;
      if (envMemo.size < RULE_MEMO_LIMIT) envMemo.set(name, found);
      return found;
    },
    assetsFor: (resource) => assets.lookup(lowered(resource)),
    protectedFor: (resource) => protectedTargets.lookup(lowered(resource)),
    rulesFor(action) {
      const cached = ruleMemo.get(action);
      if (cached !== undefined) return cached;
      const list = ruleIndex.candidates(action).map((i) => rules[i]!);
      if (ruleMemo.size < RULE_MEMO_LIMIT) ruleMemo.set(action, list);
      return list;
    },
    freezes: doc.freezes.map(compileFreeze),
    servesAudience: (audience) => hasExecutors && audiences.test(audience),
  };
}

/**
 * Which rules can match an action id, without testing every rule: exact ids and `family.*`
 * patterns are looked up, other globs are tested once per distinct pattern.
 */
class ActionRuleIndex {
  private readonly always: number[] = [];
  private readonly exact = new Map<string, number[]>();
  private readonly families = new Map<string, number[]>();
  private readonly globs = new Map<string, { glob: Matcher; rules: number[] }>();

  constructor(rules: readonly Rule[]) {
    rules.forEach((rule, i) => {
      // Lowercase, as every request's action id is.
      for (const pattern of new Set((rule.match.actions ?? ['*']).map((a) => a.toLowerCase()))) {
        if (pattern === '*') this.always.push(i);
        else if (!isGlob(pattern)) push(this.exact, pattern, i);
        else if (/^[^*?]+\.\*$/.test(pattern)) push(this.families, pattern.slice(0, -1), i);
        else {
          const entry = this.globs.get(pattern) ?? { glob: compileGlobs([pattern]), rules: [] };
          entry.rules.push(i);
          this.globs.set(pattern, entry);
        }
      }
    });
  }

  /** Indices of the rules whose action patterns match, in rule order. */
  candidates(action: string): number[] {
    const found = new Set<number>(this.always);
    for (const i of this.exact.get(action) ?? []) found.add(i);
    // `a.b.c` belongs to the families `a.` and `a.b.`.
    for (let dot = action.indexOf('.'); dot >= 0; dot = action.indexOf('.', dot + 1)) {
      for (const i of this.families.get(action.slice(0, dot + 1)) ?? []) found.add(i);
    }
    for (const { glob, rules } of this.globs.values()) if (glob.test(action)) for (const i of rules) found.add(i);
    return [...found].sort((a, b) => a - b);
  }
}

function push(map: Map<string, number[]>, key: string, value: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

type Condition = (subject: SubjectFacts, request: RequestContext) => boolean;

/** Resource patterns and resources compared lowercase. */
const lowercase = (patterns: readonly ResourcePattern[]) =>
  patterns.map((m) => ({ ...m, ...(m.id !== undefined ? { id: m.id.toLowerCase() } : {}), ...(m.type !== undefined ? { type: m.type.toLowerCase() } : {}) }));
const lowered = (resource: Resource): Resource => ({ ...resource, type: resource.type.toLowerCase(), id: resource.id.toLowerCase() });

/** Compiles one rule's conditions into a list of closures checked in order (cheapest first). */
export function compileRule(rule: Rule): CompiledRule {
  const m = rule.match;
  const conditions: Condition[] = [];
  // Environment and action names are lowercase identifiers in every request: a rule's globs are
  // compared lowercase too (`Production` must not load fine and never match).
  if (m.environments !== undefined) {
    const env = compileGlobs(m.environments.map((g) => g.toLowerCase()));
    conditions.push((_s, r) => env.test(r.environment) || (r.environmentClass !== undefined && env.test(r.environmentClass)));
  }
  if (m.agents !== undefined) {
    const agents = compileGlobs(m.agents);
    conditions.push((_s, r) => agents.test(r.agentId));
  }
  if (m.risk !== undefined) {
    const min = m.risk.atLeast === undefined ? 0 : RISK_ORDER[m.risk.atLeast];
    const max = m.risk.atMost === undefined ? 3 : RISK_ORDER[m.risk.atMost];
    conditions.push((_s, r) => r.risk >= min && r.risk <= max);
  }
  if (m.labels !== undefined) {
    const labels = m.labels;
    conditions.push((s) => labels.some((l) => s.labels.has(l)));
  }
  if (m.dataClasses !== undefined) {
    const classes = m.dataClasses;
    conditions.push((s) => classes.some((c) => s.dataClasses.has(c)));
  }
  if (m.crossRegion !== undefined) {
    const want = m.crossRegion;
    conditions.push((s) => s.crossRegion === want);
  }
  if (m.resources !== undefined) {
    // A rule that reviews or refuses matches whatever the letter case (as assets and protected
    // targets do), so a case variant never escapes it; one that allows matches case for case,
    // so a case variant never gains an allow written for another name.
    if (rule.outcome === 'allow') {
      const resources = new ResourceMatcher(m.resources);
      conditions.push((s) => s.resources.some((r) => resources.test(r)));
    } else {
      const resources = new ResourceMatcher(lowercase(m.resources));
      conditions.push((s) => s.resources.some((r) => resources.test(lowered(r))));
    }
  }
  return {
    rule,
    test(subject, request) {
      for (const condition of conditions) if (!condition(subject, request)) return false;
      return true;
    },
  };
}

/** Parses a freeze's times and compiles its patterns; used for file and runtime freezes alike. */
export function compileFreeze(freeze: FreezeWindow): CompiledFreeze {
  return {
    freeze,
    from: Date.parse(freeze.from),
    to: Date.parse(freeze.to),
    environments: compileGlobs(freeze.environments),
    actions: freeze.actions === undefined ? undefined : compileGlobs(freeze.actions),
  };
}

