import type { RiskAssessment, RiskFactor } from '../decision.js';
import { type BoundedAction, RISK_LEVELS, type RiskLevel } from '../gate-request.js';
import { analyzeSubjects, sensitivityOf } from './facts.js';
import { RISK_ORDER } from './schema.js';
import type { PolicySet, SubjectFacts } from './types.js';

/**
 * The risk classifier: a level from low to critical and the factors behind it. The level is
 * the highest factor; factors at `low` are left out except the environment, which every
 * reader wants as context. What the agent declares can only raise the level.
 */

/** Classifies a request against the policy's catalog, environments and assets. Pure. */
export function classifyRisk(request: BoundedAction, policy: PolicySet): RiskAssessment {
  return assessRisk(request, analyzeSubjects(request, policy), policy);
}

/** The classifier on subjects already analysed (the evaluator shares them). */
export function assessRisk(request: BoundedAction, subjects: readonly SubjectFacts[], policy: PolicySet): RiskAssessment {
  const factors: RiskFactor[] = [];
  const add = (factor: string, level: number, explanation: string) => {
    if (level > 0 || factor === 'environment') factors.push({ factor, level: RISK_LEVELS[Math.min(level, 3)]!, explanation });
  };
  const env = request.environment;
  const envClass = policy.index.environment(env);
  const changing = subjects.filter((s) => !s.labels.has('read-only'));
  const envRisk = envClass === undefined ? 1 : RISK_ORDER[envClass.risk];

  if (changing.length === 0) add('environment', 0, `read-only in ${env}`);
  else if (envClass === undefined) add('environment', envRisk, `${env} matches no environment class; treated as medium`);
  else add('environment', envRisk, `changes in ${env} (${envClass.id} environment)`);

  const unknown = subjects.filter((s) => s.catalog === undefined).map((s) => s.action);
  if (unknown.length > 0) add('unknown-action', 2, `${list(unknown)} ${unknown.length === 1 ? 'is' : 'are'} not in the action catalog`);

  for (const s of subjects) {
    const floor = s.catalog?.entry.risk;
    if (floor !== undefined) add('action', RISK_ORDER[floor], `${s.action} is catalogued as ${floor} risk`);
  }

  const amplifying = subjects.filter((s) => s.labels.has('privilege-amplifying')).map((s) => s.action);
  if (amplifying.length > 0) add('privilege', 2, `${list(amplifying)} can widen who may do what`);

  const irreversible = changing.filter((s) => s.reversibility === 'irreversible');
  const compensatable = changing.filter((s) => s.reversibility === 'compensatable');
  const why = changing.flatMap((s) => s.triggers.map((t) => t.explanation));
  const because = why.length > 0 ? ` (${why.join('; ')})` : '';
  if (irreversible.length > 0) {
    add('reversibility', envRisk >= 2 ? 3 : 2, `${list(irreversible.map((s) => s.action))} cannot be undone${because}`);
  } else if (compensatable.length > 0) {
    add('reversibility', envRisk >= 2 ? 1 : 0, `${list(compensatable.map((s) => s.action))} can only be undone by a compensating change`);
  }

  let criticality = 0;
  const critical: string[] = [];
  for (const s of changing) {
    criticality = Math.max(criticality, s.criticality);
    for (const a of s.assets) if (RISK_ORDER[a.asset.criticality] >= 2 && !critical.includes(a.asset.id)) critical.push(a.asset.id);
  }
  const kind = criticality === 3 ? 'critical assets' : `${RISK_LEVELS[criticality]}-criticality assets`;
  add('asset-criticality', criticality, `changes ${kind}${critical.length > 0 ? `: ${list(critical)}` : ''}`);

  let sensitivity = 0;
  const classes = new Set<string>();
  let crossRegion: SubjectFacts | undefined;
  for (const s of subjects) {
    for (const c of s.dataClasses) {
      classes.add(c);
      sensitivity = Math.max(sensitivity, sensitivityOf(c));
    }
    if (s.regions.size > 1 && crossRegion === undefined) crossRegion = s;
  }
  if (sensitivity > 0) add('data-sensitivity', sensitivity, `touches ${list([...classes])} data`);
  if (crossRegion !== undefined && sensitivity > 0) {
    add('data-residency', sensitivity + 1, `${list([...classes])} data moves across regions (${[...crossRegion.regions].join(' → ')})`);
  }

  const blast = policy.defaults.blastRadius;
  const resourceCount = subjects.reduce((n, s) => n + s.resources.length, 0);
  const downstream = subjects.length - 1;
  const byResources = resourceCount >= blast.resourcesHigh ? 2 : resourceCount >= blast.resourcesMedium ? 1 : 0;
  const byDownstream = downstream >= blast.downstreamHigh ? 2 : downstream >= blast.downstreamMedium ? 1 : 0;
  add('blast-radius', Math.max(byResources, byDownstream), `${resourceCount} resource(s) and ${downstream} downstream action(s)`);

  if (request.declaredRisk !== undefined) {
    const declared: RiskLevel = request.declaredRisk;
    const computed = Math.max(0, ...factors.map((f) => RISK_ORDER[f.level]));
    if (RISK_ORDER[declared] > computed) add('declared', RISK_ORDER[declared], `the agent declared ${declared} risk`);
  }

  const level = RISK_LEVELS[Math.max(0, ...factors.map((f) => RISK_ORDER[f.level]))]!;
  return { level, factors };
}

function list(items: readonly string[]): string {
  return items.length <= 3 ? items.join(', ') : `${items.slice(0, 3).join(', ')} and ${items.length - 3} more`;
}
