import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadPolicySet } from '../src/adapters/policy/load.js';
import { startBackground } from '../src/adapters/queue/background.js';
import { GateStore } from '../src/adapters/redis/gate-store.js';
import { IdempotencyStore } from '../src/adapters/redis/idempotency-store.js';
import { connectRedis } from '../src/adapters/redis/connect.js';
import { startPrivateRedis } from '../src/adapters/redis/private-redis.js';
import { notify, type AppContext, type GateChange } from '../src/app/ports.js';
import { AgentNetworks } from '../src/core/agent-networks.js';
import { evidenceHash } from '../src/core/evidence-hash.js';
import type { BoundedAction } from '../src/core/gate-request.js';
import { idSource } from '../src/core/ids.js';
import { evaluate } from '../src/core/policy/evaluate.js';
import type { BenchResult } from './types.js';

/**
 * Expiry at scale: 100,000 pending gates (a small production deploy request, decided by the
 * default policy) with deadlines spread evenly over 60–120 s after the start, on a private
 * redis-server with AOF (everysec) as in production: 1,667 expiries a second for a minute.
 * The background side runs in this process as it would in `npm start` (without Slack, so no
 * reminder chains; the expiries run in 250 ms ticks). Measured:
 * - lateness: the expire transition's time minus the gate's deadline, for every gate;
 * - Redis memory per waiting gate: INFO used_memory after creating every gate (record, audit
 *   entry, indexes, and whatever timer jobs are held then) minus before, divided by the count.
 * Targets: lateness p99 ≤ 1 s; ≤ 4 KB per gate. BENCH_EXPIRY_GATES, BENCH_EXPIRY_FIRST_MS and
 * BENCH_EXPIRY_SPREAD_MS change the load; BENCH_DEBUG=1 prints where Redis spent its time.
 */

const GATES = Number(process.env.BENCH_EXPIRY_GATES ?? 100_000);
const FIRST_DEADLINE_MS = Number(process.env.BENCH_EXPIRY_FIRST_MS ?? 60_000);
const SPREAD_MS = Number(process.env.BENCH_EXPIRY_SPREAD_MS ?? 60_000);
const IN_FLIGHT = 200;

const usedMemory = async (redis: Redis) => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

export async function benchExpiry(): Promise<BenchResult> {
  const server = await startPrivateRedis({ appendonly: true });
  const logger = pino({ level: 'silent' });
  const redis = connectRedis(server.url, logger); // as src/main.ts
  const policy = await loadPolicySet(join(import.meta.dirname, '../policies'));
  const example = JSON.parse(readFileSync(join(import.meta.dirname, '../examples/k8s-deploy-staging.json'), 'utf8')) as BoundedAction;
  const request: BoundedAction = { ...example, environment: 'production', summary: 'Deploy checkout 2.4.1 to prod-eu', resources: [{ type: 'k8s.deployment', id: 'prod-eu/checkout' }] };
  const hash = evidenceHash(request as unknown as Record<string, unknown>);

  const lateness: number[] = [];
  const lateBySecond: Array<[number, number]> = [];
  const byActor: Record<string, number> = {};
  let resolveAll: () => void = () => undefined;
  const allExpired = new Promise<void>((resolve) => (resolveAll = resolve));
  const ctx: AppContext = {
    store: new GateStore(redis),
    idempotency: new IdempotencyStore(redis),
    decide: (r, agentId, at) => evaluate({ request: r, agentId }, policy, at, {}),
    agent: (id) => policy.agents.get(id),
    ids: idSource((n) => randomBytes(n)),
    now: Date.now,
    logger,
    observers: [],
    agentNetworks: AgentNetworks.publicOnly,
  };
  const background = await startBackground({ redis, ctx, env: {}, logger, policy: () => policy });
  ctx.observers.push(...background.observers, {
    gateChanged(change: GateChange) {
      if (change.event !== 'expire' || change.gate.reviewDeadline === undefined) return;
      lateness.push(change.gate.updatedAt - change.gate.reviewDeadline);
      lateBySecond.push([Math.floor(change.gate.reviewDeadline / 1000) % 1000, change.gate.updatedAt - change.gate.reviewDeadline]);
      byActor[change.actor] = (byActor[change.actor] ?? 0) + 1;
      if (lateness.length === GATES) resolveAll();
    },
  });

  try {
    const decision = ctx.decide(request, 'deploy-bot', Date.now());
    // The store defines its Lua commands on first use; under auto-pipelining a pipeline built
    // before that lacks them (ioredis #1931). Use each script once before the load starts.
    await ctx.store.transition('g_warmup', { event: 'expire', now: Date.now(), audit: { event: 'expire', actor: 'bench', at: Date.now() } }).catch(() => undefined);
    await ctx.store.get('g_warmup', Date.now());
    const start = Date.now();
    const memoryBefore = await usedMemory(redis);
    let next = 0;
    const createOne = async (i: number) => {
      const now = Date.now();
      const id = ctx.ids.gateId(now);
      const { gate } = await ctx.store.create({
        id,
        agentId: 'deploy-bot',
        request,
        delivery: {},
        evidenceHash: hash,
        decision,
        createdAt: now,
        state: 'pending_review',
        reviewDeadline: start + FIRST_DEADLINE_MS + Math.floor((i / GATES) * SPREAD_MS),
        audit: { event: 'create', actor: 'agent:deploy-bot', at: now, gateId: id, evidenceHash: hash },
      });
      await notify(ctx, { gate, event: 'create', from: null, actor: 'agent:deploy-bot' });
    };
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < GATES) await createOne(next++);
      }),
    );
    const createdMs = Date.now() - start;
    const memoryAfter = await usedMemory(redis);
    const timerJobs = await background.queues.timers.getDelayedCount();

    const waitLimit = start + FIRST_DEADLINE_MS + SPREAD_MS + 60_000 - Date.now();
    await Promise.race([allExpired, new Promise((r) => setTimeout(r, waitLimit))]);
    const sorted = [...lateness].sort((a, b) => a - b);
    const perGate = (memoryAfter - memoryBefore) / GATES;
    const figures = {
      gates: GATES,
      expired: lateness.length,
      creationSeconds: createdMs / 1000,
      latenessP50Ms: quantile(sorted, 0.5),
      latenessP99Ms: quantile(sorted, 0.99),
      latenessMaxMs: sorted[sorted.length - 1] ?? NaN,
      bytesPerGate: Math.round(perGate),
      armedTimerJobs: timerJobs,
      expiredByTimer: byActor['system:timer'] ?? 0,
      expiredBySweeper: byActor['system:sweeper'] ?? 0,
    };
    return {
      name: 'expiry',
      figures,
      lines: [
        `${GATES.toLocaleString('en')} pending gates created in ${(createdMs / 1000).toFixed(1)} s (${IN_FLIGHT} in flight), deadlines spread over ${FIRST_DEADLINE_MS / 1000}–${(FIRST_DEADLINE_MS + SPREAD_MS) / 1000} s, AOF everysec`,
        `expired ${lateness.length.toLocaleString('en')} (${figures.expiredByTimer} by their timer, ${figures.expiredBySweeper} by the sweeper)`,
        `lateness (deadline → expire transition): p50 ${figures.latenessP50Ms} ms  p99 ${figures.latenessP99Ms} ms  max ${figures.latenessMaxMs} ms  (target p99 ≤ 1000 ms)`,
        `Redis memory per waiting gate: ${(perGate / 1024).toFixed(2)} KiB (${Math.round(perGate)} B: gate record, audit entry, indexes; ${timerJobs} delayed timer jobs held at that moment) (target ≤ 4 KB)`,
      ],
    };
  } finally {
    if (process.env.BENCH_DEBUG) {
      // Where Redis spent its time, whether AOF rewrites ran, and the worst lateness per deadline second.
      const stats = (await redis.info('commandstats')).split('\n').filter((l) => l.startsWith('cmdstat_'));
      const rows = stats.map((l) => ({ l, usec: Number(/usec=(\d+)/.exec(l)?.[1] ?? 0) })).sort((a, b) => b.usec - a.usec);
      process.stderr.write(rows.slice(0, 8).map((r) => r.l).join('\n') + '\n');
      process.stderr.write((await redis.info('persistence')).split('\n').filter((l) => /aof_rewrites:|aof_last_rewrite_time/.test(l)).join('\n') + '\n');
      const worst = new Map<number, number>();
      for (const [second, late] of lateBySecond) worst.set(second, Math.max(worst.get(second) ?? 0, late));
      process.stderr.write([...worst].sort((a, b) => a[0] - b[0]).map(([sec, l]) => `${sec}:${l}`).join(' ') + '\n');
    }
    await background.close();
    await redis.quit();
    await server.stop();
  }
}
