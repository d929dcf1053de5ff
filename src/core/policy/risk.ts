import type { RiskAssessment, RiskFactor } from '../decision.js';
import { type BoundedAction, RISK_LEVELS, type RiskLevel } from '../gate-request.js';
import { analyzeSubjects, sensitivityOf } from './facts.js';
import { RISK_ORDER } from './schema.js';
import type { PolicySet, SubjectFacts } from './types.js';
import type { EnvironmentClass } from './schema.js';

/**
 * The risk classifier: a level from low to critical and the factors behind it. The level is
 * the highest factor; factors at `low` are left out except the environment, which every
 * reader wants as context. What the agent declares can only raise the level.
 */

/** Classifies a request against the policy's catalog, environments and assets. Pure. */
export function classifyRisk(request: BoundedAction, policy: PolicySet): RiskAssessment {
  const subjects = analyzeSubjects(request, policy);
  return assessRisk(request, subjects, policy, placedEnvironment(request, subjects, policy));
}

/** A request judged in a stricter environment than it names, because of where its resources live. */
export interface PlacedEnvironment {
  cls: EnvironmentClass;
  /** The environment the request names. */
  asked: string;
  /** The assets that place it there. */
  assets: string[];
}

/**
 * The environment class the request's resources live in (assets with an `environment`), when it
 * is stricter than the one the request names (an unknown name counts as medium): an agent cannot
 * make a production table a staging one by saying so. Undefined otherwise.
 */
export function placedEnvironment(request: BoundedAction, subjects: readonly SubjectFacts[], policy: PolicySet): PlacedEnvironment | undefined {
  let strictest: EnvironmentClass | undefined;
  const assets: string[] = [];
  for (const s of subjects) {
    for (const a of s.assets) {
      const id = a.asset.environment;
      if (id === undefined) continue;
      const cls = policy.document.environments.find((e) => e.id === id);
      if (cls === undefined) continue;
      if (strictest === undefined || RISK_ORDER[cls.risk] > RISK_ORDER[strictest.risk]) {
        strictest = cls;
        assets.length = 0;
      }
      if (cls === strictest && !assets.includes(a.asset.id)) assets.push(a.asset.id);
    }
  }
  if (strictest === undefined) return undefined;
  const asked = policy.index.environment(request.environment);
  const askedRisk = asked === undefined ? 1 : RISK_ORDER[asked.risk];
  if (asked?.id === strictest.id || RISK_ORDER[strictest.risk] <= askedRisk) return undefined;
  return { cls: strictest, asked: request.environment, assets };
}

/** The classifier on subjects already analysed (the evaluator shares them). */
export function assessRisk(request: BoundedAction, subjects: readonly SubjectFacts[], policy: PolicySet, placed?: PlacedEnvironment): RiskAssessment {
  const factors: RiskFactor[] = [];
  let max = 0;
  const add = (factor: string, level: number, explanation: string) => {
    const capped = Math.min(level, 3);
    if (capped > 0 || factor === 'environment') factors.push({ factor, level: RISK_LEVELS[capped]!, explanation });
    if (capped > max) max = capped;
  };

  // One pass over the actions; the explanations are written afterwards.
  const unknown: string[] = [];
  const amplifying: string[] = [];
  const irreversible: string[] = [];
  const compensatable: string[] = [];
  const why: string[] = [];
  const critical: string[] = [];
  const classes = new Set<string>();
  let changing = 0;
  let criticality = 0;
  let sensitivity = 0;
  let resourceCount = 0;
  let crossRegion: SubjectFacts | undefined;
  for (const s of subjects) {
    resourceCount += s.resources.length;
    if (s.catalog === undefined) unknown.push(s.action);
    if (s.labels.has('privilege-amplifying')) amplifying.push(s.action);
    for (const c of s.dataClasses) {
      classes.add(c);
      sensitivity = Math.max(sensitivity, sensitivityOf(c));
    }
    if (s.crossRegion && crossRegion === undefined) crossRegion = s;
    const floor = s.catalog?.entry.risk;
    if (floor !== undefined) add('action', RISK_ORDER[floor], `${s.action} is catalogued as ${floor} risk`);
    // Reading changes nothing: criticality and reversibility only count for changing actions.
    if (s.labels.has('read-only')) continue;
    changing += 1;
    if (s.reversibility === 'irreversible') irreversible.push(s.action);
    else if (s.reversibility === 'compensatable') compensatable.push(s.action);
    for (const t of s.triggers) why.push(t.explanation);
    criticality = Math.max(criticality, s.criticality);
    for (const a of s.assets) if (RISK_ORDER[a.asset.criticality] >= 2 && !critical.includes(a.asset.id)) critical.push(a.asset.id);
  }

  const env = placed?.cls.id ?? request.environment;
  const envClass = placed?.cls ?? policy.index.environment(env);
  const envRisk = envClass === undefined ? 1 : RISK_ORDER[envClass.risk];
  if (changing === 0) add('environment', 0, `read-only in ${env}`);
  else if (envClass === undefined) add('environment', envRisk, `${env} matches no environment class; treated as medium`);
  else if (placed) add('environment', envRisk, `changes in ${env}: the request names ${placed.asked}, but ${list(placed.assets)} ${placed.assets.length === 1 ? 'is a' : 'are'} ${env} asset${placed.assets.length === 1 ? '' : 's'}`);
  else add('environment', envRisk, `changes in ${env} (${envClass.id} environment)`);

  if (unknown.length > 0) add('unknown-action', 2, `${list(unknown)} ${unknown.length === 1 ? 'is' : 'are'} not in the action catalog`);
  if (amplifying.length > 0) add('privilege', 2, `${list(amplifying)} can widen who may do what`);
  if (irreversible.length > 0) {
    const because = why.length > 0 ? ` (${why.join('; ')})` : '';
    add('reversibility', envRisk >= 2 ? 3 : 2, `${list(irreversible)} cannot be undone${because}`);
  } else if (compensatable.length > 0 && envRisk >= 2) {
    add('reversibility', 1, `${list(compensatable)} can only be undone by a compensating change`);
  }
  if (criticality > 0) {
    const kind = criticality === 3 ? 'critical assets' : `${RISK_LEVELS[criticality]}-criticality assets`;
    add('asset-criticality', criticality, `changes ${kind}${critical.length > 0 ? `: ${list(critical)}` : ''}`);
  }
  if (sensitivity > 0) {
    add('data-sensitivity', sensitivity, `touches ${list([...classes])} data`);
    if (crossRegion !== undefined) {
      const regions = [...crossRegion.regions].join(' → ');
      add(
        'data-residency',
        sensitivity + 1,
        crossRegion.regions.size > 1
          ? `${list([...classes])} data moves across regions (${regions})`
          : `${list([...classes])} data may leave ${regions}: another resource has no known region`,
      );
    }
  }

  const blast = policy.defaults.blastRadius;
  const downstream = subjects.length - 1;
  const byResources = resourceCount >= blast.resourcesHigh ? 2 : resourceCount >= blast.resourcesMedium ? 1 : 0;
  const byDownstream = downstream >= blast.downstreamHigh ? 2 : downstream >= blast.downstreamMedium ? 1 : 0;
  if (byResources + byDownstream > 0) {
    add('blast-radius', Math.max(byResources, byDownstream), `${resourceCount} resource(s) and ${downstream} downstream action(s)`);
  }

  const declared: RiskLevel | undefined = request.declaredRisk;
  if (declared !== undefined && RISK_ORDER[declared] > max) add('declared', RISK_ORDER[declared], `the agent declared ${declared} risk`);

  return { level: RISK_LEVELS[max]!, factors };
}

function list(items: readonly string[]): string {
  return items.length <= 3 ? items.join(', ') : `${items.slice(0, 3).join(', ')} and ${items.length - 3} more`;
}
