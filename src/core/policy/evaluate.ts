import { type Decision, type FiredRule, isStricter, type Outcome, type ReviewRequirement, type RuleMode } from '../decision.js';
import type { BoundedAction } from '../gate-request.js';
import { type AgentRegistration, agentMayRequest } from './agents.js';
import { compileFreeze } from './compile.js';
import { describeReview } from './explain.js';
import { analyzeSubjects } from './facts.js';
import { assessRisk, placedEnvironment } from './risk.js';
import { feasibility } from './check.js';
import { RISK_ORDER, type Defaults, type ReviewerSet, type ReviewSpec, type Rule } from './schema.js';
import type { CompiledFreeze, PolicyOverrides, PolicySet, RequestContext, SubjectFacts } from './types.js';

export { explainDecision } from './explain.js';
export type { PolicyOverrides } from './types.js';

/**
 * The evaluator. For each action of the request (the main one and every downstream one) the
 * first matching rule decides; protected targets and freezes add their own verdicts; the
 * strictest verdict wins. Observe mode lets a rule's verdict through as `allow` and records
 * what enforcing it would have done. Agent identity checks, protected targets and freezes
 * are never observe-only: they are explicit refusals, not a rollout being measured.
 */

/** One verdict that contributes to the decision. */
interface Verdict {
  outcome: Outcome;
  review: ReviewRequirement | undefined;
  reason: string | undefined;
  grantTtlSeconds: number;
  fired: FiredRule;
  /** In observe mode: counts as `allow` for the real outcome. */
  observed: boolean;
  /**
   * Found behind an observed rule: counts for the real outcome only. With the observed rule
   * enforced it would never be reached, so the shadow ("enforce would …") leaves it out.
   */
  behindObserved?: boolean;
}

/** Decides a request. Pure: `now` (epoch ms) only matters for freeze windows. */
export function evaluate(
  input: { request: BoundedAction; agentId: string },
  policy: PolicySet,
  now: number,
  overrides: PolicyOverrides = {},
): Decision {
  const { request, agentId } = input;
  const defaults = policy.defaults;
  const subjects = analyzeSubjects(request, policy);
  const placed = placedEnvironment(request, subjects, policy);
  const risk = assessRisk(request, subjects, policy, placed);
  const agent = policy.agents.get(agentId);
  const protectedTarget = subjects.some((s) => s.protectedHits.length > 0);
  const decide = (outcome: Combined, mode: RuleMode, rules: FiredRule[]): Decision => {
    // Built field by field, not spread: the evaluator's hot path (see bench/policy.ts).
    const decision: Decision = {
      outcome: outcome.outcome,
      mode,
      risk,
      grantTtlSeconds: outcome.grantTtlSeconds,
      executionWindowSeconds: defaults.executionWindowSeconds,
      rules,
      policyVersion: policy.version,
      protectedTarget,
    };
    if (outcome.review !== undefined) decision.review = outcome.review;
    if (outcome.reason !== undefined) decision.reason = outcome.reason;
    if (agent !== undefined) decision.agentOwner = agent.owner;
    return decision;
  };

  const refused = identityRefusal(agent, agentId, request, policy);
  if (refused !== undefined) {
    return decide({ outcome: 'reject', reason: refused.explanation, review: undefined, grantTtlSeconds: defaults.grantTtlSeconds }, 'enforce', [refused]);
  }

  const modeOf = (id: string, fileMode: RuleMode | undefined): RuleMode =>
    overrides.ruleModes?.[id] ?? overrides.mode ?? fileMode ?? defaults.mode;
  // Judged where its resources live when that is stricter than what it names: rules, freezes
  // and explanations see the class (`production`), not the name the agent chose (`staging`).
  const envClass = placed?.cls ?? policy.index.environment(request.environment);
  const context: RequestContext = {
    environment: placed?.cls.id ?? request.environment,
    environmentClass: envClass?.id,
    agentId,
    risk: RISK_ORDER[risk.level],
  };

  const verdicts: Verdict[] = [];
  for (const subject of subjects) subjectVerdicts(subject, context, policy, modeOf, verdicts);
  protectedVerdicts(subjects, policy, verdicts);
  unregisteredDownstreamVerdicts(agent!, agentId, request, policy, verdicts);
  const freezes = overrides.freezes === undefined ? policy.index.freezes : [...policy.index.freezes, ...overrides.freezes.map(compileFreeze)];
  freezeVerdicts(freezes, subjects, context, policy, now, verdicts);

  const rules = verdicts.map((v) => v.fired);
  const enforced = combine(verdicts, defaults, policy.reviewerSets, protectedTarget, false);
  if (!verdicts.some((v) => v.observed)) return decide(enforced, 'enforce', rules);
  const decision = decide(combine(verdicts, defaults, policy.reviewerSets, protectedTarget, true), 'observe', rules);
  decision.shadow = { outcome: enforced.outcome };
  if (enforced.review !== undefined) decision.shadow.review = enforced.review;
  if (enforced.reason !== undefined) decision.shadow.reason = enforced.reason;
  return decision;
}

/** Who may ask at all: a registered agent, for this action, towards a known executor. */
function identityRefusal(agent: AgentRegistration | undefined, agentId: string, request: BoundedAction, policy: PolicySet): FiredRule | undefined {
  const refuse = (rule: string, explanation: string): FiredRule => ({ rule, outcome: 'reject', mode: 'enforce', explanation });
  if (agent === undefined) return refuse('agent-unregistered', `agent "${agentId}" is not registered in the policy`);
  if (agent.role !== 'agent') return refuse('agent-not-an-agent', `"${agentId}" is registered as an ${agent.role}, which cannot ask for gates`);
  if (!agentMayRequest(agent, request.action)) {
    return refuse('agent-not-permitted', `agent "${agentId}" is not registered for action ${request.action}`);
  }

  if (policy.defaults.requireRegisteredAudience && !policy.index.servesAudience(request.audience)) {
    return refuse('audience-unregistered', `no registered executor serves audience "${request.audience}"`);
  }
  return undefined;
}

/** The first enforced rule after an observed match, as a verdict for the real outcome only. */
function enforcedBehind(
  s: SubjectFacts,
  context: RequestContext,
  policy: PolicySet,
  modeOf: (id: string, fileMode: RuleMode | undefined) => RuleMode,
  rest: ReturnType<PolicySet['index']['rulesFor']>,
  what: string,
  out: Verdict[],
): void {
  const d = policy.defaults;
  const next = rest.find((c) => modeOf(c.rule.id, c.rule.mode) === 'enforce' && c.test(s, context))?.rule;
  if (next !== undefined) {
    const review = next.review === undefined ? undefined : requirement(next.review, d);
    const because = next.description ?? `matched rule ${next.id}`;
    out.push({
      outcome: next.outcome,
      review,
      reason: next.reason,
      grantTtlSeconds: next.review?.grantTtlSeconds ?? d.grantTtlSeconds,
      fired: { rule: next.id, outcome: next.outcome, mode: 'enforce', subject: s.subject, explanation: `${because} (${what} in ${context.environment}, behind a rule in observe mode) → ${outcomeText(next.outcome, review, next.reason)}` },
      observed: false,
      behindObserved: true,
    });
  }
}

function subjectVerdicts(
  s: SubjectFacts,
  context: RequestContext,
  policy: PolicySet,
  modeOf: (id: string, fileMode: RuleMode | undefined) => RuleMode,
  out: Verdict[],
): void {
  const d = policy.defaults;
  const what = s.subject === 'action' ? s.action : `downstream ${s.action}`;
  let matched: Rule | undefined;
  const candidates = policy.index.rulesFor(s.action);
  let at = 0;
  for (; at < candidates.length; at += 1) {
    if (candidates[at]!.test(s, context)) {
      matched = candidates[at]!.rule;
      break;
    }
  }
  if (matched !== undefined) {
    const mode = modeOf(matched.id, matched.mode);

    const review = matched.review === undefined ? undefined : requirement(matched.review, d);
    const reason = matched.reason;
    const because = matched.description ?? `matched rule ${matched.id}`;
    out.push({
      outcome: matched.outcome,
      review,
      reason,
      grantTtlSeconds: matched.review?.grantTtlSeconds ?? d.grantTtlSeconds,
      fired: { rule: matched.id, outcome: matched.outcome, mode, subject: s.subject, explanation: `${because} (${what} in ${context.environment}) → ${outcomeText(matched.outcome, review, reason)}` },
      observed: mode === 'observe',
    });
    // A rule in observe mode is measured, not obeyed, but it must not hide what an enforced rule
    // behind it decides: the first of those counts for the real outcome. (With none, the observed
    // rule lets the action through, as observe mode means.)
    if (mode === 'observe') enforcedBehind(s, context, policy, modeOf, candidates.slice(at + 1), what, out);
  }
  // Fail closed: an action the catalog does not know, or no rule decides, goes to the default reviewers.
  const fallback = s.catalog === undefined ? 'unknown-action' : matched === undefined ? 'no-matching-rule' : undefined;
  if (fallback === undefined) return;
  const review = defaultReview(d);
  const mode = modeOf(fallback, undefined);
  const why = fallback === 'unknown-action' ? `${what} is not in the action catalog` : `no rule decides ${what} in ${context.environment}`;
  out.push({
    outcome: 'review',
    review,
    reason: undefined,
    grantTtlSeconds: d.grantTtlSeconds,
    fired: { rule: fallback, outcome: 'review', mode, subject: s.subject, explanation: `${why} → ${outcomeText('review', review)}` },
    observed: mode === 'observe',
  });
}

/**
 * Downstream actions the agent is not registered for: never on the allow path. A request may
 * name what its action sets off (an export that calls a webhook), but an agent must not get an
 * action it may not ask for directly waved through by naming it downstream: a person looks.
 */
function unregisteredDownstreamVerdicts(agent: AgentRegistration, agentId: string, request: BoundedAction, policy: PolicySet, out: Verdict[]): void {
  const downstream = request.downstream ?? [];
  for (let i = 0; i < downstream.length; i += 1) {
    const action = downstream[i]!.action;
    if (agentMayRequest(agent, action)) continue;
    const review = defaultReview(policy.defaults);
    out.push({
      outcome: 'review',
      review,
      reason: undefined,
      grantTtlSeconds: policy.defaults.grantTtlSeconds,
      fired: {
        rule: 'downstream-not-registered',
        outcome: 'review',
        mode: 'enforce',
        subject: 'downstream',
        explanation: `agent "${agentId}" is not registered for ${action} (downstream[${i}]), so it is never allowed without review → ${outcomeText('review', review)}`,
      },
      observed: false,
    });
  }
}

/** Protected targets: at least a review, and never break-glass. */
function protectedVerdicts(subjects: readonly SubjectFacts[], policy: PolicySet, out: Verdict[]): void {
  const seen = new Set<string>();
  for (const s of subjects) {
    for (const hit of s.protectedHits) {
      if (seen.has(hit.target.id)) continue;
      seen.add(hit.target.id);
      const spec = hit.target.review;
      const review = spec === undefined ? defaultReview(policy.defaults) : requirement(spec, policy.defaults);
      review.breakGlassAllowed = false;
      out.push({
        outcome: 'review',
        review,
        reason: undefined,
        grantTtlSeconds: spec?.grantTtlSeconds ?? policy.defaults.grantTtlSeconds,
        fired: {
          rule: `protected:${hit.target.id}`,
          outcome: 'review',
          mode: 'enforce',
          subject: s.subject,
          explanation: `${s.action} touches protected target ${hit.target.id}: ${hit.target.reason} → at least ${outcomeText('review', review)}, no break-glass`,
        },
        observed: false,
      });
    }
  }
}

/**
 * Whether a freeze covers an environment class: by the class id, or by one of the class's own
 * names (`/countersign freeze prod` freezes `prod-eu` too, where `prod` is a name of the
 * production class). A freeze on one environment of a class (`prod-eu`) stays on that one.
 */
function coversClass(f: CompiledFreeze, classId: string, policy: PolicySet): boolean {
  if (f.environments.test(classId)) return true;
  const names = policy.document.environments.find((e) => e.id === classId)?.match ?? [];
  return f.freeze.environments.some((pattern) => names.includes(pattern.toLowerCase()));
}

function freezeVerdicts(
  freezes: readonly CompiledFreeze[],
  subjects: readonly SubjectFacts[],
  context: RequestContext,
  policy: PolicySet,
  now: number,
  out: Verdict[],
): void {
  const d = policy.defaults;
  for (const f of freezes) {
    if (now < f.from || now >= f.to) continue;
    if (!f.environments.test(context.environment) && !(context.environmentClass !== undefined && coversClass(f, context.environmentClass, policy))) continue;
    const frozen = subjects.find((s) => (f.actions === undefined || f.actions.test(s.action)) && !f.freeze.exemptLabels.some((l) => s.labels.has(l)));
    if (frozen === undefined) continue;
    const spec = f.freeze.review;
    // A runtime freeze naming a set that does not exist still freezes: the default reviewers take it.
    const review = f.freeze.outcome !== 'review' ? undefined : spec !== undefined && policy.reviewerSets.has(spec.reviewerSet) ? requirement(spec, d) : defaultReview(d);
    const reason = f.freeze.outcome === 'reject' ? `change freeze ${f.freeze.id}: ${f.freeze.reason}` : undefined;
    out.push({
      outcome: f.freeze.outcome,
      review,
      reason,
      grantTtlSeconds: spec?.grantTtlSeconds ?? d.grantTtlSeconds,
      fired: {
        rule: `freeze:${f.freeze.id}`,
        outcome: f.freeze.outcome,
        mode: 'enforce',
        subject: frozen.subject,
        explanation: `change freeze ${f.freeze.id} (${f.freeze.from} – ${f.freeze.to}) covers ${context.environment}: ${f.freeze.reason} → ${outcomeText(f.freeze.outcome, review, reason)}`,
      },
      observed: false,
    });
  }
}

interface Combined {
  outcome: Outcome;
  review: ReviewRequirement | undefined;
  reason: string | undefined;
  grantTtlSeconds: number;
}

/**
 * Strictest verdict wins. Reviews add up to the hardest of each: the largest quorum, the most
 * distinct teams, the shortest window, no break-glass if any forbids it. They go to the set of
 * the largest quorum (then most teams) that can meet that; if none can, to that set anyway (the
 * gate then waits out its window: stricter, never lighter). With `relaxObserved`, verdicts of
 * rules in observe mode count as `allow`.
 */
function combine(verdicts: readonly Verdict[], d: Defaults, sets: ReadonlyMap<string, ReviewerSet>, protectedTarget: boolean, relaxObserved: boolean): Combined {
  const counts = (v: Verdict) => (relaxObserved ? !v.observed : v.behindObserved !== true);
  let outcome: Outcome = 'allow';
  for (const v of verdicts) if (counts(v) && isStricter(v.outcome, outcome)) outcome = v.outcome;
  if (outcome === 'allow') return { outcome, review: undefined, reason: undefined, grantTtlSeconds: d.grantTtlSeconds };
  if (outcome === 'reject') {
    const reason = verdicts.find((v) => counts(v) && v.outcome === 'reject')!.reason ?? 'refused by policy';
    return { outcome, review: undefined, reason, grantTtlSeconds: d.grantTtlSeconds };
  }
  const reviews: ReviewRequirement[] = [];
  let breakGlassAllowed = !protectedTarget;
  let excludeAgentOwner = false;
  let grantTtlSeconds = Number.POSITIVE_INFINITY;
  for (const v of verdicts) {
    const r = v.review;
    if (!counts(v) || v.outcome !== 'review' || r === undefined) continue;
    reviews.push(r);
    breakGlassAllowed &&= r.breakGlassAllowed;
    excludeAgentOwner ||= r.excludeAgentOwner;
    grantTtlSeconds = Math.min(grantTtlSeconds, v.grantTtlSeconds);
  }
  const quorum = Math.max(...reviews.map((r) => r.quorum));
  const distinctTeams = Math.max(...reviews.map((r) => r.distinctTeams));
  const ranked = [...reviews].sort((a, b) => b.quorum - a.quorum || b.distinctTeams - a.distinctTeams);
  const meets = (r: ReviewRequirement) => {
    const set = sets.get(r.reviewerSet);
    return set !== undefined && feasibility(set, { quorum, distinctTeams }).length === 0;
  };
  const c = ranked.find(meets) ?? ranked[0]!;
  const review: ReviewRequirement = {
    reviewerSet: c.reviewerSet,
    quorum,
    distinctTeams,
    reviewWindowSeconds: Math.min(...reviews.map((r) => r.reviewWindowSeconds)),
    excludeAgentOwner,
    breakGlassAllowed,
  };
  if (c.escalateTo !== undefined) review.escalateTo = c.escalateTo;
  return { outcome, review, reason: undefined, grantTtlSeconds };
}

function requirement(spec: ReviewSpec, d: Defaults): ReviewRequirement {
  const review: ReviewRequirement = {
    reviewerSet: spec.reviewerSet,
    quorum: spec.quorum,
    distinctTeams: spec.distinctTeams,
    reviewWindowSeconds: spec.reviewWindowSeconds ?? d.reviewWindowSeconds,
    excludeAgentOwner: spec.excludeAgentOwner,
    breakGlassAllowed: spec.breakGlass,
  };
  if (spec.escalateTo !== undefined) review.escalateTo = spec.escalateTo;
  return review;
}

function defaultReview(d: Defaults): ReviewRequirement {
  return {
    reviewerSet: d.defaultReviewerSet,
    quorum: 1,
    distinctTeams: 1,
    reviewWindowSeconds: d.reviewWindowSeconds,
    excludeAgentOwner: true,
    breakGlassAllowed: true,
  };
}

function outcomeText(outcome: Outcome, review?: ReviewRequirement, reason?: string): string {
  if (outcome === 'allow') return 'allow';
  if (outcome === 'reject') return `reject${reason === undefined ? '' : `: ${reason}`}`;
  return review === undefined ? 'review' : `review by ${describeReview(review)}`;
}
