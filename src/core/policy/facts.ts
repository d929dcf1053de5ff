import type { BoundedAction, Resource } from '../gate-request.js';
import { DATA_CLASSES, type DataClass, type EvidenceTrigger, type Label, type Reversibility } from './schema.js';
import type { CompiledAsset, CompiledProtected, PolicySet, SubjectFacts } from './types.js';

/**
 * What the policy knows about each action of a request: catalog entry, labels, data, assets.
 * Shared by the risk classifier and the evaluator so resources are matched once.
 */

/** Sensitivity of each data class as an index into RISK_LEVELS (low … critical). */
export const DATA_SENSITIVITY: Readonly<Record<DataClass, number>> = {
  public: 0,
  internal: 0,
  confidential: 1,
  pii: 2,
  financial: 2,
  regulated: 3,
  secret: 3,
};

/** A data class declared by an agent that the policy does not know counts as this. */
const UNKNOWN_CLASS_SENSITIVITY = DATA_SENSITIVITY.confidential;
const KNOWN_CLASSES = new Set<string>(DATA_CLASSES);

/** Sensitivity of a data class name, known or not (unknown names are not trusted to be harmless). */
export function sensitivityOf(dataClass: string): number {
  return KNOWN_CLASSES.has(dataClass) ? DATA_SENSITIVITY[dataClass as DataClass] : UNKNOWN_CLASS_SENSITIVITY;
}

const EMPTY: ReadonlySet<never> = new Set<never>();
/** What the evaluator assumes of an action the catalog does not know: fail closed. */
const UNKNOWN_LABELS: ReadonlySet<Label> = new Set<Label>(['irreversible']);
const SUBJECT_NAMES = Array.from({ length: 32 }, (_, i) => `downstream[${i}]`);

/** The main action (`action`) and each downstream action (`downstream[i]`), analysed. */
export function analyzeSubjects(request: BoundedAction, policy: PolicySet): SubjectFacts[] {
  const subjects = [subjectFacts('action', request.action, request.resources, request, policy)];
  const downstream = request.downstream;
  if (downstream !== undefined) {
    for (let i = 0; i < downstream.length; i += 1) {
      const d = downstream[i]!;
      // The request's evidence is the change as a whole: a downstream action's triggers read it too.
      subjects.push(subjectFacts(SUBJECT_NAMES[i] ?? `downstream[${i}]`, d.action, d.resources ?? [], request, policy));
    }
  }
  return subjects;
}

/**
 * One action's facts. Sets are shared with the catalog (or empty constants) until something
 * is added, because this runs for every action of every request.
 */
function subjectFacts(
  subject: string,
  action: string,
  resources: readonly Resource[],
  withEvidence: BoundedAction | undefined,
  policy: PolicySet,
): SubjectFacts {
  const catalog = policy.index.action(action);
  let labels: ReadonlySet<Label> = catalog?.labels ?? UNKNOWN_LABELS;
  let reversibility: Reversibility = catalog?.reversibility ?? 'irreversible';
  let triggers: EvidenceTrigger[] = [];
  if (catalog !== undefined && catalog.evidence.length > 0 && withEvidence !== undefined) {
    const text = evidenceText(withEvidence);
    for (const { regex, trigger } of catalog.evidence) {
      if (!regex.test(text)) continue;
      triggers = [...triggers, trigger];
      labels = withLabels(labels, trigger.labels);
      if (trigger.reversibility !== undefined && rank(trigger.reversibility) > rank(reversibility)) reversibility = trigger.reversibility;
    }
    if (labels.has('irreversible')) reversibility = 'irreversible';
    if (reversibility === 'irreversible' && !labels.has('irreversible')) labels = withLabels(labels, ['irreversible']);
    // Evidence that shows a change makes the action no longer read-only, whatever the catalog says.
    if (triggers.length > 0 && labels.has('read-only') && CHANGING.some((l) => labels.has(l))) {
      const copy = new Set(labels);
      copy.delete('read-only');
      labels = copy;
    }
  }

  let dataClasses: Set<string> | undefined;
  let regions: Set<string> | undefined;
  let assets: CompiledAsset[] | undefined;
  let protectedHits: CompiledProtected[] | undefined;
  let criticality = 0;
  let unplaced = 0;
  for (const resource of resources) {
    let placed = false;
    for (const a of policy.index.assetsFor(resource)) {
      (assets ??= []).push(a);
      criticality = Math.max(criticality, CRITICALITY[a.asset.criticality]);
      for (const c of a.asset.dataClasses) (dataClasses ??= new Set()).add(c);
      if (a.asset.region !== undefined) {
        (regions ??= new Set()).add(a.asset.region);
        placed = true;
      }
    }
    for (const p of policy.index.protectedFor(resource)) if (!(protectedHits ??= []).includes(p)) protectedHits.push(p);
    const attributes = resource.attributes;
    if (attributes === undefined) {
      if (!placed) unplaced += 1;
      continue;
    }
    // What the agent declares only adds: a class or region it names can raise sensitivity, never hide one.
    const declared = attributes.dataClass;
    if (typeof declared === 'string') {
      for (const c of declared.split(',')) if (c.trim() !== '') (dataClasses ??= new Set()).add(c.trim().toLowerCase());
    }
    const region = attributes.region;
    if (typeof region === 'string' && region !== '') (regions ??= new Set()).add(region.toLowerCase());
    else if (!placed) unplaced += 1;
  }
  if (dataClasses !== undefined && !labels.has('data-sensitive')) {
    let sensitivity = 0;
    for (const c of dataClasses) sensitivity = Math.max(sensitivity, sensitivityOf(c));
    if (sensitivity >= DATA_SENSITIVITY.confidential) labels = withLabels(labels, ['data-sensitive']);
  }

  return {
    subject,
    action,
    catalog,
    labels,
    reversibility,
    resources,
    dataClasses: dataClasses ?? EMPTY,
    regions: regions ?? EMPTY,
    crossRegion: regions !== undefined && (regions.size > 1 || unplaced > 0),
    criticality,
    assets: assets ?? [],
    protectedHits: protectedHits ?? [],
    triggers,
  };
}

/** A copy with more labels: the catalog's sets are shared and never modified. */
/** Labels that say an action changes something (so it cannot also be read-only). */
const CHANGING: readonly Label[] = ['production-change', 'irreversible', 'privilege-amplifying'];

function withLabels(labels: ReadonlySet<Label>, more: readonly Label[]): ReadonlySet<Label> {
  const copy = new Set(labels);
  for (const l of more) copy.add(l);
  return copy;
}

const CRITICALITY = { low: 0, medium: 1, high: 2, critical: 3 } as const;
const rank = (r: Reversibility) => (r === 'reversible' ? 0 : r === 'compensatable' ? 1 : 2);

/** Every string in a JSON value (iteratively: any depth). */
function stringsOf(value: unknown): string[] {
  const out: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) for (const item of v) stack.push(item);
    else if (v !== null && typeof v === 'object') for (const item of Object.values(v)) stack.push(item);
  }
  return out;
}

/** The text evidence triggers look at: what reviewers read as the change itself. */
function evidenceText(request: BoundedAction): string {
  const parts: string[] = [];
  if (request.evidence.diff !== undefined) parts.push(request.evidence.diff);
  if (request.evidence.commands !== undefined) parts.push(...request.evidence.commands);
  // A structured plan or parameters (a Terraform JSON plan, a job's arguments) are evidence too.
  // As JSON (patterns may read its structure) and as its string values (JSON writes a newline in
  // `"DROP\nCOLUMN"` as `\n`, which patterns for whitespace do not see).
  for (const value of [request.evidence.plan, request.evidence.parameters]) {
    if (value === undefined) continue;
    if (typeof value === 'string') parts.push(value);
    else parts.push(JSON.stringify(value), ...stringsOf(value));
  }
  // SQL and shell comments between keywords (`DROP/**/TABLE`) must not hide them from triggers,
  // and what looks like a comment may sit in a string literal (`SELECT '/*'; DROP …; SELECT '*/'`):
  // triggers see the text both as written and with the comments taken out.
  const raw = parts.join('\n');
  const stripped = raw.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/--[^\n]*(\n|$)/g, ' ');
  return stripped === raw ? raw : `${raw}\n${stripped}`;
}
