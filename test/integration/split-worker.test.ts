import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { verifyAudit } from '../../src/adapters/audit/verify.js';
import { GateStats } from '../../src/adapters/metrics/gate-stats.js';
import { loadConfig } from '../../src/config.js';
import { serveWorkerEndpoints, startWorkers, type Workers } from '../../src/worker.js';
import { POLICIES_DIR } from '../support/app.js';
import { testRedisUrl } from '../support/redis.js';
import { eventually } from '../support/slack.js';
import { FAST_BACKGROUND, shortGate, startJobsApp, type JobsApp } from './jobs-support.js';

// Scale-out: API processes that only enqueue, and `npm run worker` processes that run the jobs.
// What a worker changes (an expiry) must reach the deployment audit chain and the shared figures
// exactly like a change made by an API process.

let producer: JobsApp;
let workers: Workers;
let workerRedis: Redis;

beforeAll(async () => {
  producer = await startJobsApp({ background: { runWorkers: false } });
  workerRedis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 2 });
  const config = loadConfig({ REDIS_URL: testRedisUrl(), COUNTERSIGN_POLICIES: POLICIES_DIR, LOG_LEVEL: 'silent', ...producer.env });
  workers = await startWorkers({ config, redis: workerRedis, logger: pino({ level: 'silent' }), env: producer.env, background: FAST_BACKGROUND });
}, 30_000);

afterAll(async () => {
  await workers.close();
  await workerRedis.quit();
  await producer.close();
});

describe('a workers-only process (npm run worker)', () => {
  test('an expiry it applies is copied to the deployment audit chain and counted in the shared figures', async () => {
    // Setup: a gate with a two-second review window, made through the API process (which has no workers).
    const gate = await shortGate(producer, { name: 'iam-attach-admin-policy', agent: 'iam-agent', windowSeconds: 2 });
    const stats = new GateStats(producer.redis, { now: Date.now, actionLabel: (a) => a });
    const expiredBefore = (await stats.window(1)).all.expired;

    // Execution: the worker's timer expires it.
    await eventually(async () => (await producer.app.ctx.store.read(gate.id))?.state === 'expired', 15_000);

    // Validation: the deployment chain holds both links of the gate (create, expire), nothing is left uncopied, and the day's figures count the expiry.
    const report = await eventually(async () => {
      const r = await verifyAudit(producer.redis);
      return r.uncopied.length === 0 ? r : undefined;
    }, 5_000).catch(async () => verifyAudit(producer.redis));
    expect(report.problems).toEqual([]);
    expect(report.uncopied).toEqual([]);
    const copies = (await producer.redis.lrange('cs:{audit}:log', 0, -1)).map((t) => JSON.parse(t) as { gateId: string; seq: number }).filter((r) => r.gateId === gate.id);
    expect(copies.map((r) => r.seq)).toEqual([1, 2]);
    await eventually(async () => (await stats.window(1)).all.expired === expiredBefore + 1, 5_000);
  });

  test("its expiries are on its own /metrics, with /healthz and /readyz beside", async () => {
    const gate = await shortGate(producer, { name: 'iam-attach-admin-policy', agent: 'iam-agent', windowSeconds: 2 });
    await eventually(async () => (await producer.app.ctx.store.read(gate.id))?.state === 'expired', 15_000);
    const { port, server } = await serveWorkerEndpoints(workers, { redis: workerRedis, logger: pino({ level: 'silent' }), port: 0, host: '127.0.0.1' });
    try {
      const base = `http://127.0.0.1:${port}`;
      const text = await eventually(async () => {
        const body = await (await fetch(`${base}/metrics`)).text();
        return /countersign_gate_outcomes_total\{[^}]*outcome="expired"[^}]*\} [1-9]/.test(body) ? body : undefined;
      }, 5_000);
      expect(text).toContain('countersign_gate_outcomes_total');
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
    } finally {
      server.close();
    }
  });
});
