import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { loadPolicySet } from '../src/adapters/policy/load.js';
import type { BoundedAction } from '../src/core/gate-request.js';
import { evaluate } from '../src/core/policy/evaluate.js';
import { LABELS } from '../src/core/policy/schema.js';
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

export function generateRequests(rand: () => number): BoundedAction[] {
  return Array.from({ length: REQUESTS }, (_, i) => {
    const action = i % 16 === 0 ? `unknown.op${i}` : `svc${String(i % SERVICES).padStart(2, '0')}.op${Math.floor(rand() * ACTIONS / SERVICES) * SERVICES + (i % SERVICES)}`;
    const resources = Array.from({ length: 1 + (i % 4) }, (_, r) => ({
      type: r % 2 === 0 ? `k8s.kind${(i + r) % 20}` : 'aws.s3_bucket',
      id: `prod-eu/app-${(i * 7 + r) % ASSETS}`,
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
    const outcomes = { allow: 0, review: 0, reject: 0 };

    for (let i = 0; i < WARMUP; i += 1) evaluate({ request: requests[i % REQUESTS]!, agentId: 'bench-agent' }, policy, now);
    const latencies = new Float64Array(ITERATIONS);
    const start = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i += 1) {
      const t0 = process.hrtime.bigint();
      const decision = evaluate({ request: requests[i % REQUESTS]!, agentId: 'bench-agent' }, policy, now);
      latencies[i] = Number(process.hrtime.bigint() - t0) / 1_000;
      outcomes[decision.outcome] += 1;
    }
    const totalS = Number(process.hrtime.bigint() - start) / 1e9;
    latencies.sort();
    const figures = {
      decisionsPerSecond: Math.round(ITERATIONS / totalS),
      p50Micros: percentile(latencies, 50),
      p99Micros: percentile(latencies, 99),
      maxMicros: latencies[latencies.length - 1]!,
      loadMillis: loadMs,
    };
    return {
      name: 'policy evaluation',
      lines: [
        `set: ${RULES} rules, ${ACTIONS} catalog actions, ${ASSETS} assets (loaded from YAML in ${loadMs.toFixed(0)} ms)`,
        `requests: ${REQUESTS} distinct (1-4 resources, 0-2 downstream actions, 1 in 16 unknown), ${ITERATIONS.toLocaleString('en')} decisions, one core`,
        `outcomes: ${outcomes.allow} allow, ${outcomes.review} review, ${outcomes.reject} reject`,
        `throughput: ${figures.decisionsPerSecond.toLocaleString('en')} decisions/s`,
        `latency: p50 ${figures.p50Micros.toFixed(1)} µs, p99 ${figures.p99Micros.toFixed(1)} µs, max ${figures.maxMicros.toFixed(0)} µs (target p99 ≤ 50 µs)`,
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
