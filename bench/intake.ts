import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateWebhookSecret, webhookHeaders } from '../src/adapters/http/auth/standard-webhooks.js';
import { startPrivateRedis } from '../src/adapters/redis/private-redis.js';
import { Redis } from 'ioredis';
import { startApp, startChild } from './child.js';
import { perRequest, perRequestFigures, startCpuCount, type CpuShare } from './cpu.js';
import { gcLine, readGcCounts, type GcCounts } from './gc.js';
import { runLoad, type LoadResult, type PreparedRequest } from './load.js';
import type { BenchResult } from './types.js';

const CONNECTIONS = 200;
const SECONDS = 10;
const ROUNDS = 3;
const ROUND_SECONDS = 5;

let made = 0;

/** Signed gate requests, prepared before the clock starts so the generator only sends. */
function prepareGates(secret: string, count: number, path: string): PreparedRequest[] {
  const example = JSON.parse(readFileSync(join(import.meta.dirname, '../examples/k8s-deploy-staging.json'), 'utf8')) as Record<string, unknown>;
  const out: PreparedRequest[] = [];
  for (let i = 0; i < count; i += 1) {
    made += 1;
    const body = JSON.stringify({ ...example, summary: `Deploy checkout 2.4.${made} to staging-eu` });
    out.push({
      method: 'POST',
      path,
      body,
      headers: {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'idempotency-key': randomUUID(),
        'countersign-agent': 'demo-agent',
        ...webhookHeaders(secret, body),
      },
    });
  }
  return out;
}

/**
 * The requests of one phase, prepared before its clock starts (each is signed with its own
 * webhook-id, so none can be sent twice). A phase that used them all up ended early, and its
 * figures would be wrong: `check` fails the run instead.
 */
function supply(secret: string, count: number, path = '/v1/gates') {
  const list = prepareGates(secret, count, path);
  let next = 0;
  return {
    first: list[0]!,
    take: (): PreparedRequest | undefined => list[next++],
    check(phase: string): void {
      if (next > list.length) throw new Error(`the ${phase} phase used up its ${count} prepared requests and ended early; prepare more`);
    },
  };
}

/** Prepared requests per second of a closed-loop phase: well above what this route reaches. */
const INTAKE_MAX_RPS = 20_000;
const FLOOR_MAX_RPS = 30_000;

const line = (name: string, r: LoadResult) =>
  `${name.padEnd(34)} ${r.throughput.toFixed(0).padStart(7)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  max ${r.maxMs.toFixed(1)} ms  (${r.requests} requests, ${r.errors} errors, statuses ${JSON.stringify(r.statuses)})`;

/**
 * Intake throughput and latency with signed requests at 200 concurrent connections, next to a
 * bare node:http server on the same machine in the same run.
 */
export async function benchIntake(): Promise<BenchResult> {
  const redis = await startPrivateRedis();
  const secret = generateWebhookSecret();
  const bare = await startChild('bare-server.ts');
  const app = await startApp({ REDIS_URL: redis.url, COUNTERSIGN_AGENT_DEMO_AGENT_SECRET: secret, BENCH_FLOOR: '1' });
  const lines: string[] = [];
  const counter = new Redis(redis.url);
  try {
    // Warm both servers up (JIT, connections, Redis scripts).
    const warm = supply(secret, 2 * INTAKE_MAX_RPS);
    await runLoad({ port: bare.port, connections: CONNECTIONS, seconds: 2, next: () => ({ method: 'POST', path: '/v1/gates', headers: { 'content-type': 'application/json' }, body: '{}' }) });
    await runLoad({ port: app.port, connections: CONNECTIONS, seconds: 2, next: warm.take });

    // Bare and intake take turns, ROUNDS times: on a shared machine the capacity drifts during a
    // run, and each round's ratio compares two phases measured moments apart. The median round
    // is reported (and every round's ratio). Each round ends with the floor: the same requests
    // through the route's work up to its store, with nothing stored (see floor.ts).
    const bareBody = warm.first;
    const rounds: Array<{ bare: LoadResult; intake: LoadResult; cpu: CpuShare; gc: GcCounts; floor: LoadResult; floorCpu: CpuShare }> = [];
    for (let r = 0; r < ROUNDS; r += 1) {
      const intakeSupply = supply(secret, INTAKE_MAX_RPS * ROUND_SECONDS);
      const floorSupply = supply(secret, FLOOR_MAX_RPS * ROUND_SECONDS, '/bench/floor/gates');
      const bareRun = await runLoad({ port: bare.port, connections: CONNECTIONS, seconds: ROUND_SECONDS, next: () => bareBody });
      const stopCount = await startCpuCount(counter, app.child.pid!);
      await readGcCounts(app.port);
      // With BENCH_PROFILE_DIR set, the app profiles the first round (see app-server.ts).
      const profile = process.env.BENCH_PROFILE_DIR && r === 0;
      if (profile) app.child.kill('SIGUSR2');
      const intakeRun = await runLoad({ port: app.port, connections: CONNECTIONS, seconds: ROUND_SECONDS, next: intakeSupply.take });
      intakeSupply.check('intake');
      if (profile) app.child.kill('SIGUSR2');
      const cpu = await stopCount();
      const gc = await readGcCounts(app.port);
      const stopFloorCount = await startCpuCount(counter, app.child.pid!);
      const floor = await runLoad({ port: app.port, connections: CONNECTIONS, seconds: ROUND_SECONDS, next: floorSupply.take });
      floorSupply.check('floor');
      rounds.push({ bare: bareRun, intake: intakeRun, cpu, gc, floor, floorCpu: await stopFloorCount() });
    }
    const ratioOf = (r: (typeof rounds)[number]) => r.intake.throughput / r.bare.throughput;
    const floorRatioOf = (r: (typeof rounds)[number]) => r.floor.throughput / r.bare.throughput;
    const median = [...rounds].sort((a, b) => ratioOf(a) - ratioOf(b))[Math.floor(ROUNDS / 2)]!;
    const { bare: baseline, intake, cpu, gc, floor, floorCpu } = median;
    // Latency at a fixed arrival rate (open loop, no coordinated omission): half the measured capacity.
    const rate = Math.max(100, Math.floor(intake.throughput * 0.5));
    const pacedSupply = supply(secret, rate * SECONDS + CONNECTIONS);
    await readGcCounts(app.port);
    const paced = await runLoad({ port: app.port, connections: CONNECTIONS, seconds: SECONDS, next: pacedSupply.take, rate });
    pacedSupply.check('open-loop');
    const pacedGc = await readGcCounts(app.port);
    // And at a quarter of it: how the tail looks with headroom.
    const quarterRate = Math.max(50, Math.floor(intake.throughput * 0.25));
    const quarterSupply = supply(secret, quarterRate * SECONDS + CONNECTIONS);
    await readGcCounts(app.port);
    const quarter = await runLoad({ port: app.port, connections: CONNECTIONS, seconds: SECONDS, next: quarterSupply.take, rate: quarterRate });
    quarterSupply.check('open-loop');
    const quarterGc = await readGcCounts(app.port);

    const ratio = ratioOf(median);
    lines.push(`${ROUNDS} rounds of ${ROUND_SECONDS} s each, bare, intake, then the floor; ratios ${rounds.map((r) => ratioOf(r).toFixed(3)).join(', ')}; the median round:`);
    lines.push(line('bare node:http (closed loop)', baseline));
    lines.push(line('POST /v1/gates (closed loop)', intake));
    lines.push(line('floor: nothing stored (closed loop)', floor));
    lines.push(line(`POST /v1/gates (open loop ${rate}/s)`, paced));
    lines.push(line(`POST /v1/gates (open loop ${quarterRate}/s)`, quarter));
    lines.push(`CPU per request in the closed loop: ${perRequest(cpu, intake)} (all on the same two cores)`);
    lines.push(`CPU per request of the floor: ${perRequest(floorCpu, floor)}`);
    lines.push(`app garbage collection: closed loop ${gcLine(gc, intake.seconds)}`);
    lines.push(`  open loop at ${rate}/s ${gcLine(pacedGc, paced.seconds)}; at ${quarterRate}/s ${gcLine(quarterGc, quarter.seconds)}`);
    lines.push(`throughput ratio intake / bare: ${ratio.toFixed(3)} (target ≥ 0.30); the floor / bare: ${floorRatioOf(median).toFixed(3)} (rounds ${rounds.map((r) => floorRatioOf(r).toFixed(3)).join(', ')})`);
    lines.push(`p99 closed loop ${intake.p99Ms.toFixed(2)} ms, open loop at ${rate}/s ${paced.p99Ms.toFixed(2)} ms, at ${quarterRate}/s ${quarter.p99Ms.toFixed(2)} ms (target ≤ 20 ms)`);
    return {
      name: 'intake',
      lines,
      figures: {
        bareRps: baseline.throughput,
        intakeRps: intake.throughput,
        ratio,
        ratioMin: Math.min(...rounds.map(ratioOf)),
        ratioMax: Math.max(...rounds.map(ratioOf)),
        floorRps: floor.throughput,
        floorRatio: floorRatioOf(median),
        floorCpuMainMsPerRequest: floorCpu.mainMs / floor.requests,
        closedP50Ms: intake.p50Ms,
        closedP99Ms: intake.p99Ms,
        openRate: rate,
        openP50Ms: paced.p50Ms,
        openP99Ms: paced.p99Ms,
        quarterRate,
        quarterP50Ms: quarter.p50Ms,
        quarterP99Ms: quarter.p99Ms,
        closedYoungGcs: gc.young,
        closedYoungGcMs: gc.youngPauseMs,
        quarterYoungGcLongestMs: quarterGc.youngLongestMs,
        ...perRequestFigures(cpu, intake),
      },
    };
  } finally {
    counter.disconnect();
    await app.stop();
    await bare.stop();
    await redis.stop();
  }
}
