import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { loadPolicySet } from '../src/adapters/policy/load.js';
import type { BoundedAction } from '../src/core/gate-request.js';
import { evaluate } from '../src/core/policy/evaluate.js';
import { LABELS } from '../src/core/policy/schema.js';
import type { PolicySet } from '../src/core/policy/types.js';
import type { BenchResult } from './types.js';

/**
 * Policy evaluation on a generated set of 500 rules and 1,000 catalog entries (plus 200
 * assets), loaded from YAML like a real set. One core, one decision at a time: the figure the
 * intake path pays per request. Target: p99 ≤ 50 µs.
 */

const RULES = 500;
const ACTIONS = 1_000;
const ASSETS = 200;
const SERVICES = 50;
const REQUESTS = 256;
const WARMUP = 20_000;
const ITERATIONS = 200_000;
const COLD_REQUESTS = 50_000;

/** Deterministic pseudo-random numbers (mulberry32), so every run measures the same set. */
export function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function generatePolicy(rand: () => number) {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const svc = (i: number) => `svc${String(i % SERVICES).padStart(2, '0')}`;
  const actions = Array.from({ length: ACTIONS }, (_, i) => {
    const readOnly = rand() < 0.3;
    const labels = readOnly ? ['read-only'] : [...new Set([pick(LABELS.filter((l) => l !== 'read-only')), 'production-change'])];
    return {
      id: `${svc(i)}.op${i}`,
      labels,
      reversibility: readOnly ? 'reversible' : pick(['reversible', 'compensatable', 'irreversible']),
      ...(i % 10 === 0 ? { evidence: [{ matches: '\\bdrop\\s+(table|column)\\b', labels: ['irreversible'], explanation: 'drops data' }] } : {}),
    };
  });
  const reviewerSets = Array.from({ length: 10 }, (_, i) => ({
    id: `set-${i}`,
    channel: `C0BENCH${i}`,
    usergroups: [{ id: `S0BENCH${i}`, team: `team-${i}` }, { id: `S0BENCHX${i}`, team: `team-x${i}` }],
  }));
  const assets = Array.from({ length: ASSETS }, (_, i) => ({
    id: `asset-${i}`,
    match: [{ type: i % 4 === 0 ? 'aws.*' : `k8s.kind${i % 20}`, id: `prod-*/app-${i}*` }],
    criticality: pick(['low', 'medium', 'high', 'critical']),
    ...(i % 5 === 0 ? { dataClasses: [pick(['pii', 'financial', 'confidential'])], region: pick(['eu', 'us']) } : {}),
  }));
  const rules = Array.from({ length: RULES }, (_, i) => {
    const match: Record<string, unknown> = {};
    if (i % 5 === 0) match.actions = [`${svc(i)}.*`];
    else match.actions = [0, 1, 2].map(() => `${svc(i)}.op${Math.floor(rand() * (ACTIONS / SERVICES)) * SERVICES + (i % SERVICES)}`);
    if (i % 3 === 0) match.environments = [pick(['production', 'staging'])];
    if (i % 4 === 0) match.labels = [pick(LABELS)];
    if (i % 7 === 0) match.resources = [{ type: 'k8s.*', id: `prod-*/app-${i % ASSETS}*` }];
    if (i % 11 === 0) match.risk = { atLeast: pick(['medium', 'high']) };
    if (i % 13 === 0) match.dataClasses = ['pii', 'financial'];
    const outcome = pick(['allow', 'review', 'review', 'reject']);
    return {
      id: `rule-${i}`,
      match,
      outcome,
      ...(outcome === 'review' ? { review: { reviewerSet: `set-${i % 10}`, quorum: 1 + (i % 2), distinctTeams: 1 + (i % 2) } } : {}),
      ...(outcome === 'reject' ? { reason: `refused by rule ${i}` } : {}),
    };
  });
  const agents = [
    { id: 'bench-agent', owner: 'U0BENCH', auth: { method: 'hmac', secretEnv: 'BENCH_AGENT_SECRET' }, actions: ['*'] },
    { id: 'bench-runner', role: 'executor', owner: 'U0BENCH', auth: { method: 'hmac', secretEnv: 'BENCH_RUNNER_SECRET' }, actions: ['bench-runner'] },
  ];
  const environments = [
    { id: 'production', match: ['production', 'prod-*'], risk: 'high' },
    { id: 'staging', match: ['staging', 'staging-*'], risk: 'low' },
  ];
  const defaults = { defaultReviewerSet: 'set-0', securityChannel: 'C0BENCHSEC' };
  return { 'catalog.yaml': { environments, actions }, 'assets.yaml': { assets }, 'reviewers.yaml': { reviewerSets }, 'rules.yaml': { rules }, 'agents.yaml': { agents, defaults } };
}

/** `unique` appends a counter to every resource id, so no lookup can be served from memory. */
export function generateRequests(rand: () => number, count = REQUESTS, unique = false, first = 0): BoundedAction[] {
  return Array.from({ length: count }, (_, n) => {
    const i = first + n;
    const action = i % 16 === 0 ? `unknown.op${i}` : `svc${String(i % SERVICES).padStart(2, '0')}.op${Math.floor(rand() * ACTIONS / SERVICES) * SERVICES + (i % SERVICES)}`;
    const resources = Array.from({ length: 1 + (i % 4) }, (_, r) => ({
      type: r % 2 === 0 ? `k8s.kind${(i + r) % 20}` : 'aws.s3_bucket',
      id: `prod-eu/app-${(i * 7 + r) % ASSETS}${unique ? `-${i}` : ''}`,
      ...(r === 1 && i % 3 === 0 ? { attributes: { dataClass: 'pii', region: 'us' } } : {}),
    }));
    const downstream = Array.from({ length: i % 3 }, (_, d) => ({ action: `svc${String((i + d) % SERVICES).padStart(2, '0')}.op${(i + d) % ACTIONS}` }));
    return {
      action,
      summary: `bench request ${i}`,
      environment: i % 2 === 0 ? 'production' : 'staging-eu',
      resources,
      permissions: [{ name: 'bench:do', reason: 'benchmark' }],
      evidence: { diff: i % 10 === 0 ? 'ALTER TABLE t DROP COLUMN c;' : '+ replicas: 3', commands: ['apply'] },
      impact: { expected: 'nothing', rollback: 'nothing' },
      ...(downstream.length > 0 ? { downstream } : {}),
      context: { requester: { email: 'bench@example.com' }, agentSession: `sess_${i}` },
      audience: 'bench-runner',
    } satisfies BoundedAction;
  });
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/**
 * Times each decision alone; returns sorted latencies (µs), throughput (time inside `evaluate`
 * only) and outcome counts. `batch` supplies the requests, a batch at a time, outside the clock.
 */
function measure(policy: PolicySet, batch: (n: number) => readonly BoundedAction[], iterations: number, now: number) {
  const outcomes = { allow: 0, review: 0, reject: 0 };
  const latencies = new Float64Array(iterations);
  let requests = batch(0);
  let inside = 0;
  for (let i = 0; i < iterations; i += 1) {
    if (i % requests.length === 0 && i > 0) requests = batch(i / requests.length);
    const request = requests[i % requests.length]!;
    const t0 = process.hrtime.bigint();
    const decision = evaluate({ request, agentId: 'bench-agent' }, policy, now);
    const ns = Number(process.hrtime.bigint() - t0);
    latencies[i] = ns / 1_000;
    inside += ns;
    outcomes[decision.outcome] += 1;
  }
  latencies.sort();
  return { latencies, perSecond: Math.round(iterations / (inside / 1e9)), outcomes };
}

/** Generates the set, loads it from YAML, and times `evaluate` one decision at a time. */
export async function benchPolicy(): Promise<BenchResult> {
  const rand = random(0x5eed);
  const dir = await mkdtemp(join(tmpdir(), 'countersign-bench-policy-'));
  try {
    for (const [name, content] of Object.entries(generatePolicy(rand))) await writeFile(join(dir, name), stringify(content));
    const loadStart = process.hrtime.bigint();
    const policy = await loadPolicySet(dir);
    const loadMs = Number(process.hrtime.bigint() - loadStart) / 1e6;
    const requests = generateRequests(rand);
    const now = Date.parse('2026-11-23T12:00:00Z');
    for (let i = 0; i < WARMUP; i += 1) evaluate({ request: requests[i % REQUESTS]!, agentId: 'bench-agent' }, policy, now);
    const warm = measure(policy, () => requests, ITERATIONS, now);
    // Every resource new: the per-resource memo never helps, the asset patterns run every time.
    // Requests arrive as parsed JSON, as they do over HTTP, two hundred at a time.
    const cold = measure(policy, (n) => JSON.parse(JSON.stringify(generateRequests(rand, 200, true, n * 200))), COLD_REQUESTS, now);
    const figures = {
      decisionsPerSecond: warm.perSecond,
      p50Micros: percentile(warm.latencies, 50),
      p99Micros: percentile(warm.latencies, 99),
      maxMicros: warm.latencies[warm.latencies.length - 1]!,
      coldDecisionsPerSecond: cold.perSecond,
      coldP50Micros: percentile(cold.latencies, 50),
      coldP99Micros: percentile(cold.latencies, 99),
      loadMillis: loadMs,
    };
    const o = warm.outcomes;
    return {
      name: 'policy evaluation',
      lines: [
        `set: ${RULES} rules, ${ACTIONS} catalog actions, ${ASSETS} assets (loaded from YAML and compiled in ${loadMs.toFixed(0)} ms)`,
        `requests: 1-4 resources, 0-2 downstream actions, 1 in 16 unknown; one decision at a time, one core`,
        `repeated resources (${REQUESTS} distinct requests, ${ITERATIONS.toLocaleString('en')} decisions: ${o.allow} allow, ${o.review} review, ${o.reject} reject):`,
        `  ${figures.decisionsPerSecond.toLocaleString('en')} decisions/s, p50 ${figures.p50Micros.toFixed(1)} µs, p99 ${figures.p99Micros.toFixed(1)} µs, max ${figures.maxMicros.toFixed(0)} µs`,
        `every resource new (${COLD_REQUESTS.toLocaleString('en')} decisions):`,
        `  ${figures.coldDecisionsPerSecond.toLocaleString('en')} decisions/s, p50 ${figures.coldP50Micros.toFixed(1)} µs, p99 ${figures.coldP99Micros.toFixed(1)} µs`,
        `target: p99 ≤ 50 µs (load average ${loadavg()[0]!.toFixed(1)} during the run: other processes inflate the tail)`,
      ],
      figures,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await benchPolicy();
  process.stdout.write(`## ${result.name}\n${result.lines.join('\n')}\n`);
}
