import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { MAX_GRANT_TTL_SECONDS, GRANT_TYP } from '../src/adapters/credentials/grant-claims.js';
import { KeyRing, rotateKeys } from '../src/adapters/credentials/key-ring.js';
import { generateWebhookSecret, webhookHeaders } from '../src/adapters/http/auth/standard-webhooks.js';
import { connectRedis } from '../src/adapters/redis/connect.js';
import { GateStore } from '../src/adapters/redis/gate-store.js';
import { startPrivateRedis } from '../src/adapters/redis/private-redis.js';
import { redeemGrant } from '../src/app/redeem-grant.js';
import { loadConfig } from '../src/config.js';
import { idSource } from '../src/core/ids.js';
import { startCountersign } from '../src/countersign.js';
import { startApp } from './child.js';
import { perRequest, perRequestFigures, startCpuCount, type CpuShare } from './cpu.js';
import { gcLine, readGcCounts } from './gc.js';
import { runLoad, type LoadResult, type PreparedRequest } from './load.js';
import type { BenchResult } from './types.js';

/**
 * Redeem over HTTP — signed agent request, gate read, policy re-decision, ES256 signing, the
 * redeem script with its audit link, the answer — next to raw jose ES256 signing of the same
 * claims with the same key, in one run. The app runs in its own process as `npm start` runs it
 * (`app-server.ts`, one replica), with a key ring in COUNTERSIGN_KEYS that this process loads
 * too; the load generator and the raw baseline run here, one grant at a time for the baseline.
 */

const AGENT = 'demo-agent';
const ISSUER = 'https://countersign.example.com';
/** Connections of the closed loop (BENCH_CONNECTIONS overrides; 32 gave about 30 % more grants/s and a 3× p99). */
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const SECONDS = 3;
const GATES = 32_000;
/** Redeems of the floor phase (see floor.ts), spread over a few gates it leaves approved. */
const FLOOR_REQUESTS = 48_000;
const RAW_SIGNING_MS = 2_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** Sequential raw SignJWT for `ms`: the rate one thread signs grants at, with nothing around it. */
async function rawSigning(sign: () => Promise<string>, ms: number): Promise<{ perSecond: number; p50: number; p99: number }> {
  const latencies: number[] = [];
  const start = performance.now();
  while (performance.now() - start < ms) {
    const t0 = performance.now();
    await sign();
    latencies.push(performance.now() - t0);
  }
  const total = latencies.reduce((a, b) => a + b, 0);
  latencies.sort((a, b) => a - b);
  return { perSecond: (latencies.length / total) * 1000, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** A signed agent request. */
function signed(path: string, body: string, secret: string, headers: Record<string, string> = {}): PreparedRequest {
  return {
    method: 'POST',
    path,
    body,
    headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'countersign-agent': AGENT, ...headers, ...webhookHeaders(secret, body) },
  };
}

/**
 * `count` approved gates — one through intake, copies of it stored directly (intake is not
 * measured) — and their signed redeems.
 */
async function prepareRedeems(appUrl: string, store: GateStore, secret: string, count: number): Promise<PreparedRequest[]> {
  // A read-only query: the policy allows it at once, so the gate is approved on creation.
  const example = readFileSync(join(import.meta.dirname, '../examples/logs-read-only.json'), 'utf8');
  const first = signed('/v1/gates', example, secret, { 'idempotency-key': randomUUID() });
  const { 'content-length': _length, ...headers } = first.headers; // fetch sets it
  const answer = await fetch(`${appUrl}${first.path}`, { method: 'POST', headers, body: first.body ?? null });
  const created = (await answer.json()) as { id: string; state: string };
  if (answer.status !== 201 || created.state !== 'approved') throw new Error(`the template gate answered ${answer.status}, ${created.state}`);
  const template = (await store.read(created.id))!;
  const ids = idSource((n) => randomBytes(n));
  const body = JSON.stringify({ evidenceHash: template.evidenceHash });
  const prepared: PreparedRequest[] = [];
  for (let i = 0; i < count; i += 256) {
    const now = Date.now();
    const batch = Array.from({ length: Math.min(256, count - i) }, () => ids.gateId(now));
    await Promise.all(
      batch.map((id) =>
        store.create({
          id,
          agentId: AGENT,
          request: template.request,
          delivery: template.delivery,
          evidenceHash: template.evidenceHash,
          decision: template.decision,
          createdAt: now,
          state: 'approved',
          executionDeadline: now + template.decision.executionWindowSeconds * 1000,
          audit: { event: 'create', actor: `agent:${AGENT}`, at: now, gateId: id, evidenceHash: template.evidenceHash },
        }),
      ),
    );
    for (const id of batch) prepared.push(signed(`/v1/gates/${id}/redeem`, body, secret));
  }
  return prepared;
}

/** The use case alone, `CONNECTIONS` at a time, in this process: what redeem costs without HTTP, auth and the load generator. */
async function withoutHttp(env: Record<string, string>, redisUrl: string, requests: PreparedRequest[], seconds: number): Promise<{ perSecond: number; p50: number; p99: number }> {
  const logger = pino({ level: 'silent' });
  const redis = connectRedis(redisUrl, logger); // as npm start makes it
  const app = await startCountersign({ config: loadConfig({ ...env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' }), redis, logger, env });
  try {
    const agent = app.ctx.agent(AGENT)!;
    const grants = { ring: () => app.keyRing.ring, issuer: () => ISSUER, ledger: redis };
    const evidenceHash = (JSON.parse(String(requests[0]!.body)) as { evidenceHash: string }).evidenceHash;
    const latencies: number[] = [];
    let i = 0;
    const start = performance.now();
    const deadline = start + seconds * 1000;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (performance.now() < deadline && i < requests.length) {
          const gateId = requests[i++]!.path.split('/')[3]!;
          const t0 = performance.now();
          await redeemGrant(app.ctx, grants, { agent, gateId, evidenceHash });
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const elapsed = performance.now() - start;
    latencies.sort((a, b) => a - b);
    return { perSecond: (latencies.length / elapsed) * 1000, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  } finally {
    await app.close();
    await redis.quit();
  }
}

export async function benchRedeem(): Promise<BenchResult> {
  const redisServer = await startPrivateRedis();
  const secret = generateWebhookSecret();
  const keysDir = mkdtempSync(join(tmpdir(), 'cs-bench-keys-'));
  await rotateKeys(keysDir, { now: Date.now(), maxGrantTtlSeconds: MAX_GRANT_TTL_SECONDS });
  const env = {
    REDIS_URL: redisServer.url,
    COUNTERSIGN_POLICIES: join(import.meta.dirname, '../policies'),
    COUNTERSIGN_PUBLIC_URL: ISSUER,
    COUNTERSIGN_KEYS: keysDir,
    COUNTERSIGN_AGENT_DEMO_AGENT_SECRET: secret,
    BENCH_FLOOR: '1',
  };
  const app = await startApp(env);
  const appUrl = `http://127.0.0.1:${app.port}`;
  const redis = new Redis(redisServer.url, { enableAutoPipelining: true });
  const store = new GateStore(redis);
  try {
    // Setup
    const prepared = await prepareRedeems(appUrl, store, secret, GATES);
    let next = 0;
    const slice = (share: number) => prepared.slice(next, (next += Math.floor(prepared.length * share)));
    const first = prepared[next++]!;
    const { 'content-length': _length, ...headers } = first.headers;
    const answer = await fetch(`${appUrl}${first.path}`, { method: 'POST', headers, body: first.body ?? null });
    if (answer.status !== 200) throw new Error(`redeem answered ${answer.status}: ${await answer.text()}`);
    // The raw baseline signs the claims of a grant the service issued, with its current key (the same key file).
    const { claims } = (await answer.json()) as { claims: Record<string, unknown> };
    const ring = await KeyRing.load(keysDir, { now: Date.now(), maxGrantTtlSeconds: MAX_GRANT_TTL_SECONDS });
    const { kid, privateKey } = ring.current(Date.now());
    let n = 0;
    const sign = () =>
      new SignJWT({ ...claims, jti: `gr_raw_${(n++).toString(36).padStart(10, '0')}` }).setProtectedHeader({ alg: 'ES256', typ: GRANT_TYP, kid }).sign(privateKey);
    const phase = (share: number, seconds: number, options: { connections?: number; rate?: number } = {}) => {
      let i = 0;
      const requests = slice(share);
      return runLoad({ port: app.port, connections: options.connections ?? CONNECTIONS, seconds, next: () => requests[i++], ...(options.rate ? { rate: options.rate } : {}) });
    };
    await rawSigning(sign, 300);
    await phase(0.05, 1); // warm-up: JIT, connections, scripts

    // Execution: raw signing, redeem closed loop, raw signing again (machine noise hits both), then
    // redeem at a fixed arrival rate of half the measured capacity (latency without coordinated
    // omission), then one request at a time.
    const rawBefore = await rawSigning(sign, RAW_SIGNING_MS);
    const stopCount = await startCpuCount(redis, app.child.pid!);
    await readGcCounts(app.port);
    // With BENCH_PROFILE_DIR set, the app profiles the closed loop (see app-server.ts).
    if (process.env.BENCH_PROFILE_DIR) app.child.kill('SIGUSR2');
    const closed = await phase(0.4, SECONDS);
    if (process.env.BENCH_PROFILE_DIR) app.child.kill('SIGUSR2');
    const cpu: CpuShare = await stopCount();
    const closedGc = await readGcCounts(app.port);
    const rawAfter = await rawSigning(sign, RAW_SIGNING_MS);
    // The floor: the route's work up to its store (gate read, re-decision, signature), nothing
    // stored, so the same few gates serve every request (see floor.ts).
    const floorRequests = Array.from({ length: FLOOR_REQUESTS }, (_, k) => {
      const gate = prepared[prepared.length - 1 - (k % 64)]!;
      return signed(gate.path.replace('/v1/', '/bench/floor/'), String(gate.body), secret);
    });
    let f = 0;
    const stopFloorCount = await startCpuCount(redis, app.child.pid!);
    const floor = await runLoad({ port: app.port, connections: CONNECTIONS, seconds: SECONDS, next: () => floorRequests[f++] });
    const floorCpu = await stopFloorCount();
    const rate = Math.max(50, Math.floor(closed.throughput * 0.5));
    await readGcCounts(app.port);
    const paced = await phase(0.25, SECONDS, { rate });
    const pacedGc = await readGcCounts(app.port);
    const sequential = await phase(0.1, 2, { connections: 1 });
    // Context: the same loop against GET /healthz (HTTP only, no auth, no Redis) on this machine.
    const health = await runLoad({ port: app.port, connections: CONNECTIONS, seconds: 2, next: () => ({ method: 'GET', path: '/healthz', headers: {} }) });
    await app.stop();
    const direct = await withoutHttp(env, redisServer.url, slice(0.15), 2);

    // Validation
    const raw = { perSecond: (rawBefore.perSecond + rawAfter.perSecond) / 2, p50: (rawBefore.p50 + rawAfter.p50) / 2, p99: Math.max(rawBefore.p99, rawAfter.p99) };
    const grants = (r: LoadResult) => (r.statuses['200'] ?? 0) / r.seconds;
    const ratio = grants(closed) / raw.perSecond;
    const line = (name: string, r: LoadResult) =>
      `  ${name.padEnd(28)} ${grants(r).toFixed(0).padStart(6)} grants/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  max ${r.maxMs.toFixed(1)} ms  (${r.requests} requests, statuses ${JSON.stringify(r.statuses)})`;
    const exhausted = [closed, floor, paced, sequential].some((r) => r.seconds < (r === sequential ? 2 : SECONDS) * 0.95) ? ' — ran out of prepared gates: raise GATES' : '';
    return {
      name: 'redeem',
      lines: [
        `POST /v1/gates/:id/redeem over HTTP (HMAC-signed), the app in its own process, load from this one${exhausted}:`,
        line(`closed loop, ${CONNECTIONS} connections`, closed),
        line('floor: nothing stored', floor),
        line(`open loop at ${rate}/s`, paced),
        line('one at a time', sequential),
        `  redeemGrant without HTTP     ${direct.perSecond.toFixed(0).padStart(6)} grants/s  p50 ${direct.p50.toFixed(2)} ms  p99 ${direct.p99.toFixed(2)} ms (use case called directly in this process, ${CONNECTIONS} at a time)`,
        `  GET /healthz, same loop         ${health.throughput.toFixed(0).padStart(6)} req/s     p50 ${health.p50Ms.toFixed(2)} ms  p99 ${health.p99Ms.toFixed(2)} ms (the HTTP floor of this machine)`,
        `  raw jose ES256 SignJWT       ${raw.perSecond.toFixed(0).padStart(6)} /s        p50 ${raw.p50.toFixed(3)} ms  p99 ${raw.p99.toFixed(3)} ms (one at a time, same key and claims)`,
        `  CPU per redeem in the closed loop: ${perRequest(cpu, closed)} (all on the same two cores)`,
        `  CPU per redeem of the floor: ${perRequest(floorCpu, floor)}`,
        `  app garbage collection in the closed loop: ${gcLine(closedGc, closed.seconds)}`,
        `  app garbage collection in the open loop: ${gcLine(pacedGc, paced.seconds)}`,
        `  ratio redeem grants/s / raw signing: ${ratio.toFixed(2)} (target ≥ 0.5); the floor / raw signing: ${(grants(floor) / raw.perSecond).toFixed(2)}`,
        `  redeem p99: open loop ${paced.p99Ms.toFixed(2)} ms, one at a time ${sequential.p99Ms.toFixed(2)} ms (target ≤ 10 ms)`,
      ],
      figures: {
        redeem_per_second: grants(closed),
        redeem_closed_p50_ms: closed.p50Ms,
        redeem_closed_p99_ms: closed.p99Ms,
        redeem_open_rate: rate,
        redeem_open_p50_ms: paced.p50Ms,
        redeem_open_p99_ms: paced.p99Ms,
        redeem_sequential_p50_ms: sequential.p50Ms,
        redeem_sequential_p99_ms: sequential.p99Ms,
        raw_sign_per_second: raw.perSecond,
        raw_sign_p50_ms: raw.p50,
        raw_sign_p99_ms: raw.p99,
        redeem_to_raw_ratio: ratio,
        floor_per_second: grants(floor),
        floor_to_raw_ratio: grants(floor) / raw.perSecond,
        floor_cpu_main_ms_per_request: floorCpu.mainMs / floor.requests,
        healthz_per_second: health.throughput,
        redeem_without_http_per_second: direct.perSecond,
        redeem_without_http_p99_ms: direct.p99,
        redeem_closed_young_gcs: closedGc.young,
        redeem_closed_young_gc_ms: closedGc.youngPauseMs,
        redeem_open_young_gc_longest_ms: pacedGc.youngLongestMs,
        ...perRequestFigures(cpu, closed),
      },
    };
  } finally {
    await app.stop();
    await redis.quit();
    await redisServer.stop();
    rmSync(keysDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await benchRedeem();
  for (const line of result.lines) console.log(line);
  process.exit(0);
}
