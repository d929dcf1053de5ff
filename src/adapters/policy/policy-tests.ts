import { access, readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import type { Decision } from '../../core/decision.js';
import { GateRequest, RiskLevel, splitDelivery, type BoundedAction } from '../../core/gate-request.js';
import { zodIssues } from '../../core/policy/build.js';
import { evaluate } from '../../core/policy/evaluate.js';
import { FreezeWindow, OUTCOMES, RuleModeSchema } from '../../core/policy/schema.js';
import type { PolicyOverrides, PolicySet } from '../../core/policy/types.js';
import { loadPolicySet } from './load.js';
import { parseYamlSource, type YamlSource } from './yaml-source.js';

/**
 * Policy test cases (policies/tests/*.cases.yaml): each case is a note, an agent, a request
 * and the wanted decision. The same runner serves `countersign policy test` and `npm test`.
 */

const Want = z.strictObject({
  outcome: z.enum(OUTCOMES),
  reviewerSet: z.string().optional(),
  quorum: z.number().int().optional(),
  distinctTeams: z.number().int().optional(),
  breakGlassAllowed: z.boolean().optional(),
  mode: RuleModeSchema.optional(),
  shadow: z.enum(OUTCOMES).optional(),
  risk: RiskLevel.optional(),
  /** Each entry: a fired rule id, or a text found in a rule explanation, the reason or a risk factor. */
  reasons: z.array(z.string().min(1)).optional(),
});

const PolicyCase = z.strictObject({
  note: z.string().min(1),
  agent: z.string().min(1),
  /** An inline request, or `{ file: examples/x.json, with: { …fields to replace } }`. */
  request: z.union([
    z.strictObject({ file: z.string().min(1), with: z.record(z.string(), z.unknown()).optional() }),
    z.record(z.string(), z.unknown()),
  ]),
  /** ISO time or epoch ms; default: the current time. */
  now: z.union([z.iso.datetime({ offset: true }), z.number().int()]).optional(),
  overrides: z
    .strictObject({
      mode: RuleModeSchema.optional(),
      ruleModes: z.record(z.string(), RuleModeSchema).optional(),
      freezes: z.array(FreezeWindow).optional(),
    })
    .optional(),
  want: Want,
});
type PolicyCase = z.output<typeof PolicyCase>;
type Want = z.output<typeof Want>;

export interface PolicyTestFailure {
  /** Case file, relative to the policy directory. */
  file: string;
  /** The case's note (or `(file)` when the file itself is broken). */
  case: string;
  problems: string[];
}

export interface PolicyTestReport {
  passed: number;
  failed: PolicyTestFailure[];
  /** Every case that ran, in order, for the CLI's listing. */
  cases?: Array<{ file: string; case: string; ok: boolean }>;
}

/** Runs every `tests/*.cases.yaml` of a policy directory. Throws when the policy set is invalid. */
export async function runPolicyTests(dir: string): Promise<PolicyTestReport> {
  const policy = await loadPolicySet(dir);
  const testsDir = join(dir, 'tests');
  const names = (await readdir(testsDir).catch(() => [] as string[])).filter((n) => n.endsWith('.cases.yaml')).sort();
  const report: Required<PolicyTestReport> = { passed: 0, failed: [], cases: [] };
  for (const name of names) {
    const file = `tests/${name}`;
    const source = parseYamlSource(file, await readFile(join(testsDir, name), 'utf8'));
    const cases = parseCases(source);
    if (!cases.ok) {
      report.failed.push({ file, case: '(file)', problems: cases.problems });
      report.cases.push({ file, case: '(file)', ok: false });
      continue;
    }
    for (const c of cases.cases) {
      const problems = await runCase(c, policy, dir);
      report.cases.push({ file, case: c.note, ok: problems.length === 0 });
      if (problems.length === 0) report.passed += 1;
      else report.failed.push({ file, case: c.note, problems });
    }
  }
  return report;
}

function parseCases(source: YamlSource): { ok: true; cases: PolicyCase[] } | { ok: false; problems: string[] } {
  if (source.errors.length > 0) return { ok: false, problems: source.errors.map((e) => `${source.file}:${e.line} ${e.message}`) };
  const parsed = z.array(PolicyCase).safeParse(source.data ?? []);
  if (parsed.success) return { ok: true, cases: parsed.data };
  const located = zodIssues(source.file, parsed.error.issues, source.data).map((i) => ({ line: source.lineOf(i.path), issue: i }));
  located.sort((a, b) => a.line - b.line);
  return { ok: false, problems: located.map(({ line, issue }) => `${source.file}:${line} ${issue.path.join('.')}: ${issue.message}`) };
}

async function runCase(c: PolicyCase, policy: PolicySet, dir: string): Promise<string[]> {
  let request: BoundedAction;
  try {
    request = await resolveRequest(c.request, dir);
  } catch (err) {
    return [(err as Error).message];
  }
  const now = c.now === undefined ? Date.now() : typeof c.now === 'number' ? c.now : Date.parse(c.now);
  const decision = evaluate({ request, agentId: c.agent }, policy, now, (c.overrides ?? {}) as PolicyOverrides);
  return compare(c.want, decision);
}

/** Reads and validates a case's request; `file:` paths are relative to the repository (the policy directory's parent). */
export async function resolveRequest(spec: PolicyCase['request'], dir: string): Promise<BoundedAction> {
  let body: unknown = spec;
  if (typeof spec.file === 'string' && !('action' in spec)) {
    const path = await locate(spec.file, [dirname(resolve(dir)), process.cwd()]);
    body = { ...(JSON.parse(await readFile(path, 'utf8')) as object), ...((spec.with as object | undefined) ?? {}) };
  }
  const parsed = GateRequest.safeParse(body);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `/${i.path.join('/')} ${i.message}`);
    throw new Error(`the request is not a valid gate request: ${lines.join('; ')}`);
  }
  return splitDelivery(parsed.data).action;
}

async function locate(file: string, roots: string[]): Promise<string> {
  for (const root of roots) {
    const path = resolve(root, file);
    if (await access(path).then(() => true, () => false)) return path;
  }
  throw new Error(`request file ${file} not found (looked in ${roots.join(', ')})`);
}

/** Every difference between the wanted and the actual decision, in words. */
export function compare(want: Want, d: Decision): string[] {
  const problems: string[] = [];
  const got = `${d.outcome}${d.review ? ` by ${d.review.reviewerSet}` : ''}${d.reason ? ` (${d.reason})` : ''}; rules: ${d.rules.map((r) => r.rule).join(', ') || 'none'}`;
  const expect = (what: string, wanted: unknown, actual: unknown) => {
    if (wanted !== undefined && wanted !== actual) problems.push(`${what}: want ${String(wanted)}, got ${String(actual)}`);
  };
  if (want.outcome !== d.outcome) problems.push(`outcome: want ${want.outcome}, got ${got}`);
  expect('reviewerSet', want.reviewerSet, d.review?.reviewerSet);
  expect('quorum', want.quorum, d.review?.quorum);
  expect('distinctTeams', want.distinctTeams, d.review?.distinctTeams);
  expect('breakGlassAllowed', want.breakGlassAllowed, d.review?.breakGlassAllowed);
  expect('mode', want.mode, d.mode);
  expect('shadow', want.shadow, d.shadow?.outcome);
  expect('risk', want.risk, d.risk.level);
  const texts = [...d.rules.map((r) => r.explanation), d.reason ?? '', ...d.risk.factors.map((f) => f.explanation)].map((t) => t.toLowerCase());
  for (const reason of want.reasons ?? []) {
    const lower = reason.toLowerCase();
    if (d.rules.some((r) => r.rule === reason) || texts.some((t) => t.includes(lower))) continue;
    problems.push(`reason "${reason}" not found; rules fired: ${d.rules.map((r) => `${r.rule} (${r.explanation})`).join('; ') || 'none'}`);
  }
  return problems;
}
