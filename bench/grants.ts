import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { GRANT_TYP, mintGrant } from '../src/adapters/credentials/grant.js';
import { KeyRing } from '../src/adapters/credentials/key-ring.js';
import type { Decision } from '../src/core/decision.js';
import { evidenceHash } from '../src/core/evidence-hash.js';
import type { Gate } from '../src/core/gate.js';
import { GateRequest, splitDelivery } from '../src/core/gate-request.js';
import { verifyGrant } from '../src/client/verify-grant.js';

/**
 * Grant minting next to raw jose ES256 signing of the same claims with the same key, in one
 * run and interleaved in blocks, so machine noise hits both alike. The ratio is what the issue's
 * target (≥ 0.5 of the raw signing rate) is about; p50/p99 are per grant, one at a time.
 */

const ISSUER = 'https://countersign.example.com';
const ITERATIONS = 3_000;
const BLOCK = 250;
const WARMUP = 300;

function exampleGate(): Gate {
  const body = JSON.parse(readFileSync(join(import.meta.dirname, '../examples/customer-data-export.json'), 'utf8'));
  const { action, delivery } = splitDelivery(GateRequest.parse(body));
  const decision: Decision = {
    outcome: 'review',
    mode: 'enforce',
    risk: { level: 'high', factors: [] },
    grantTtlSeconds: 300,
    executionWindowSeconds: 900,
    rules: [],
    policyVersion: 'sha256:bench',
    protectedTarget: false,
  };
  const now = Date.now();
  return {
    id: 'g_bench',
    agentId: 'analytics-agent',
    state: 'redeemed',
    version: 4,
    request: action,
    delivery,
    evidenceHash: evidenceHash(body),
    decision,
    createdAt: now,
    updatedAt: now,
    votes: [],
    annotations: {},
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

interface Series {
  latencies: number[];
  totalMs: number;
}

async function timed(series: Series, op: () => Promise<unknown>): Promise<void> {
  const t0 = performance.now();
  await op();
  const dt = performance.now() - t0;
  series.latencies.push(dt);
  series.totalMs += dt;
}

function summary(series: Series) {
  const sorted = [...series.latencies].sort((a, b) => a - b);
  return {
    perSecond: (series.latencies.length / series.totalMs) * 1000,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
  };
}

/** Measures mintGrant, raw jose ES256 SignJWT, and verifyGrant (local JWKS) in one run. */
export async function benchGrants(): Promise<{ name: string; lines: string[]; figures: Record<string, number> }> {
  const ring = await KeyRing.development({ warn: () => undefined });
  const gate = exampleGate();
  const { kid, privateKey } = ring.current();
  const now = Date.now();
  const sample = await mintGrant(gate, { ring, issuer: ISSUER, now, jti: 'grt_bench_sample', ttlSeconds: 300, approvers: ['U01', 'U02'] });
  const jwks = ring.publicJwks(now);

  let n = 0;
  const mint = () =>
    mintGrant(gate, { ring, issuer: ISSUER, now: Date.now(), jti: `grt_bench_${(n++).toString(36).padStart(8, '0')}`, ttlSeconds: 300, approvers: ['U01', 'U02'] });
  const raw = () => new SignJWT({ ...sample.claims, jti: `grt_raw_${(n++).toString(36).padStart(8, '0')}` }).setProtectedHeader({ alg: 'ES256', typ: GRANT_TYP, kid }).sign(privateKey);
  const verify = () => verifyGrant(sample.token, { jwks, issuer: ISSUER, audience: gate.request.audience, now: new Date(now + 1000) });

  for (let i = 0; i < WARMUP; i += 1) {
    await mint();
    await raw();
    await verify();
  }
  const mints: Series = { latencies: [], totalMs: 0 };
  const raws: Series = { latencies: [], totalMs: 0 };
  const verifies: Series = { latencies: [], totalMs: 0 };
  for (let done = 0; done < ITERATIONS; done += BLOCK) {
    for (let i = 0; i < BLOCK; i += 1) await timed(raws, raw);
    for (let i = 0; i < BLOCK; i += 1) await timed(mints, mint);
    for (let i = 0; i < BLOCK; i += 1) await timed(verifies, verify);
  }

  const m = summary(mints);
  const r = summary(raws);
  const v = summary(verifies);
  const ratio = m.perSecond / r.perSecond;
  const fmt = (x: number) => x.toFixed(3);
  return {
    name: 'grants',
    lines: [
      `grant minting, ${ITERATIONS} grants one at a time (ES256, ${sample.token.length}-byte token):`,
      `  mintGrant        ${m.perSecond.toFixed(0).padStart(6)} /s   p50 ${fmt(m.p50)} ms   p99 ${fmt(m.p99)} ms`,
      `  raw jose SignJWT ${r.perSecond.toFixed(0).padStart(6)} /s   p50 ${fmt(r.p50)} ms   p99 ${fmt(r.p99)} ms`,
      `  ratio mintGrant / raw signing: ${ratio.toFixed(2)} (target ≥ 0.5)`,
      `  verifyGrant (local JWKS) ${v.perSecond.toFixed(0)} /s   p50 ${fmt(v.p50)} ms   p99 ${fmt(v.p99)} ms`,
    ],
    figures: {
      mint_per_second: m.perSecond,
      mint_p50_ms: m.p50,
      mint_p99_ms: m.p99,
      raw_sign_per_second: r.perSecond,
      raw_sign_p50_ms: r.p50,
      raw_sign_p99_ms: r.p99,
      mint_to_raw_ratio: ratio,
      verify_per_second: v.perSecond,
      verify_p50_ms: v.p50,
      verify_p99_ms: v.p99,
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await benchGrants();
  for (const line of result.lines) console.log(line);
}
