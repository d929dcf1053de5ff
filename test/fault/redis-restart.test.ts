import { afterAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { startBackground, type Background } from '../../src/adapters/queue/background.js';
import { jobId, QUEUE, QUEUE_PREFIX } from '../../src/adapters/queue/names.js';
import { loadPolicySet } from '../../src/adapters/policy/load.js';
import { GateStore } from '../../src/adapters/redis/gate-store.js';
import { IdempotencyStore } from '../../src/adapters/redis/idempotency-store.js';
import { freePort, startPrivateRedis, type PrivateRedis } from '../../src/adapters/redis/private-redis.js';
import { notify, type AppContext } from '../../src/app/ports.js';
import { AgentNetworks } from '../../src/core/agent-networks.js';
import { evidenceHash } from '../../src/core/evidence-hash.js';
import { idSource } from '../../src/core/ids.js';
import { POLICIES_DIR } from '../support/app.js';
import { exampleAction, reviewDecision } from '../support/gates.js';
import { eventually } from '../support/slack.js';

const dir = mkdtempSync(join(tmpdir(), 'countersign-aof-'));
let server: PrivateRedis | undefined;
const open: Array<{ close(): Promise<unknown> }> = [];

afterAll(async () => {
  for (const o of open.reverse()) await o.close().catch(() => undefined);
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The background side of one process against `url`, with a fast sweeper. */
async function processOn(url: string): Promise<{ ctx: AppContext; background: Background; redis: Redis }> {
  const redis = new Redis(url, { maxRetriesPerRequest: 2 });
  const policy = await loadPolicySet(POLICIES_DIR);
  const ctx: AppContext = {
    store: new GateStore(redis),
    idempotency: new IdempotencyStore(redis),
    decide: () => reviewDecision(),
    agent: () => undefined,
    ids: idSource((n) => randomBytes(n)),
    now: Date.now,
    logger: pino({ level: 'silent' }),
    observers: [],
    agentNetworks: AgentNetworks.publicOnly,
  };
  const background = await startBackground({ redis, ctx, env: {}, logger: ctx.logger, policy: () => policy }, { sweepEveryMs: 300, sweepGraceMs: 300, closeTimeoutMs: 1_000 });
  ctx.observers.push(...background.observers);
  let closed = false;
  open.push({
    close: async () => {
      if (closed) return;
      closed = true;
      await background.close();
      await redis.quit();
    },
  });
  return { ctx, background, redis };
}

/** A pending gate whose review window ends `windowMs` from now, announced to the observers. */
async function pendingGate(ctx: AppContext, windowMs: number) {
  const now = Date.now();
  const request = exampleAction('terraform-apply-prod');
  const { gate } = await ctx.store.create({
    id: ctx.ids.gateId(now),
    agentId: 'terraform-bot',
    request,
    delivery: {},
    evidenceHash: evidenceHash(request as unknown as Record<string, unknown>),
    decision: reviewDecision(),
    createdAt: now,
    state: 'pending_review',
    reviewDeadline: now + windowMs,
    audit: { event: 'create', actor: 'agent:terraform-bot', at: now },
  });
  await notify(ctx, { gate, event: 'create', from: null, actor: 'agent:terraform-bot' });
  return gate;
}

describe('a Redis restart with AOF', () => {
  test('keeps pending gates; their lost timers come back, and what fell due while Redis was down is applied once', async () => {
    // Setup: Redis with AOF, two pending gates and their timers.
    const port = await freePort();
    server = await startPrivateRedis({ appendonly: true, dir, port });
    const before = await processOn(server.url);
    const soon = await pendingGate(before.ctx, 1_500); // falls due while Redis is down
    const later = await pendingGate(before.ctx, 7_000);
    const tickOf = (deadline: number) => jobId.tick(before.background.timers.tickEnd(deadline));
    expect(await before.background.queues.timers.getJob(tickOf(later.reviewDeadline!))).toBeDefined();
    await open[0]!.close();
    // The crash cut the log between each gate and its timer: the queue's jobs are gone.
    const connection = new Redis(server.url, { maxRetriesPerRequest: null });
    const timers = new Queue(QUEUE.timers, { connection, prefix: QUEUE_PREFIX });
    await timers.obliterate({ force: true });
    await timers.close();
    await connection.quit();

    // Execution: Redis stops and starts again on the same directory and port.
    await server.stop();
    await new Promise((r) => setTimeout(r, 1_800));
    server = await startPrivateRedis({ appendonly: true, dir, port });
    const after = await processOn(server.url);

    // Validation: both gates survived; the due one is expired by the sweeper, the other gets its timers back.
    expect((await after.ctx.store.read(later.id))?.state).toBe('pending_review');
    const swept = await eventually(async () => ((await after.ctx.store.read(soon.id))?.state === 'expired' ? after.ctx.store.auditTrail(soon.id) : undefined), 5_000);
    // The boot pass re-arms it at once, or the sweeper gets there first: either way, once.
    expect(swept.filter((l) => l.to === 'expired').map((l) => JSON.parse(l.entry).actor)).toEqual([expect.stringMatching(/^system:(sweeper|timer)$/)]);
    await eventually(async () => (await after.background.queues.timers.getJob(tickOf(later.reviewDeadline!))) !== undefined, 5_000);
    const expired = await eventually(async () => {
      const g = await after.ctx.store.read(later.id);
      return g?.state === 'expired' ? g : undefined;
    }, 10_000);
    expect(expired.updatedAt - later.reviewDeadline!).toBeLessThan(1_000);
    expect((await after.ctx.store.auditTrail(later.id)).filter((l) => l.to === 'expired').map((l) => JSON.parse(l.entry).actor)).toEqual(['system:timer']);
  });
});
