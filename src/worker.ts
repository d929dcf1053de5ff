import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { startRecorders } from './adapters/admin/wiring.js';
import { actionLabelFor } from './adapters/metrics/gate-stats.js';
import { PolicyStore } from './adapters/policy/load.js';
import { startBackground, type Background, type BackgroundOptions } from './adapters/queue/background.js';
import { GateStore } from './adapters/redis/gate-store.js';
import { connectRedis, whenReady } from './adapters/redis/connect.js';
import { checkDatabase } from './adapters/redis/database.js';
import { IdempotencyStore } from './adapters/redis/idempotency-store.js';
import { quitWithin } from './adapters/redis/settle-within.js';
import { ReviewerDirectory } from './adapters/slack/reviewer-directory.js';
import { SlackBroker } from './adapters/slack/slack-broker.js';
import { createSlackApp } from './adapters/slack/slack-app.js';
import { SlackWrites } from './adapters/slack/slack-writes.js';
import { announceExpiry, type AppContext } from './app/ports.js';
import { loadConfig, retentionMs, type Config } from './config.js';
import { isCountersignError } from './core/errors.js';
import { AgentNetworks } from './core/agent-networks.js';
import { bufferedRandom, idSource } from './core/ids.js';
import { evaluate } from './core/policy/evaluate.js';
import { createLogger } from './logger.js';
import { GroupChanges } from './adapters/slack/group-changes.js';
import type { Server } from 'node:http';
import { createHttpServer, listen } from './adapters/http/server.js';
import { Router } from './adapters/http/router.js';
import { mountMetrics } from './adapters/metrics/http.js';
import { PrometheusMetrics } from './adapters/metrics/prometheus.js';

/**
 * Workers only, for scale-out: the same queues, workers, sweeper and Slack writer that
 * `npm start` runs next to the HTTP API, without the API. Run as many as needed against the
 * API's Redis (REDIS_URL is required: a private Redis would share nothing).
 */

export interface Workers {
  ctx: AppContext;
  background: Background;
  /** What this process's jobs changed, for `GET /metrics`. */
  metrics: PrometheusMetrics;
  close(): Promise<void>;
}

/**
 * `GET /metrics` (this process's counters: expiries, invalidations and deliveries its jobs
 * made), `/healthz` and `/readyz` (Redis reachable) on PORT. Resolves with the port.
 */
export async function serveWorkerEndpoints(workers: Workers, options: { redis: Redis; logger: Logger; port: number; host: string }): Promise<{ port: number; server: Server }> {
  const router = new Router(options.logger);
  mountMetrics(router, workers.metrics);
  const server = createHttpServer({ router, logger: options.logger, redis: options.redis });
  return { port: await listen(server, options.port, options.host), server };
}

/** Wires the background side of the product on `redis`; the caller owns the connection. */
export async function startWorkers(options: {
  config: Config;
  redis: Redis;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  background?: Partial<BackgroundOptions>;
}): Promise<Workers> {
  const { config, redis, logger } = options;
  const env = options.env ?? process.env;
  await checkDatabase(redis);
  const policy = await PolicyStore.open(config.COUNTERSIGN_POLICIES, logger);
  const ctx: AppContext = {
    store: new GateStore(redis),
    idempotency: new IdempotencyStore(redis),
    decide: (request, agentId, at) => evaluate({ request, agentId }, policy.current(), at, {}),
    agent: (id) => policy.current().agents.get(id),
    ids: idSource(bufferedRandom((n) => randomBytes(n))),
    now: Date.now,
    logger,
    observers: [],
    agentNetworks: config.COUNTERSIGN_AGENT_NETWORKS ?? AgentNetworks.publicOnly,
  };
  ctx.store.onDeadlineApplied((gate, from) => announceExpiry(ctx, gate, from).then(() => undefined));
  // What the jobs change (expiries, invalidations) is copied to the audit chain and counted here,
  // as an API process does for its own changes; and in this process's Prometheus counters (see
  // serveWorkerEndpoints).
  const actionLabel = actionLabelFor((action) => policy.current().index.action(action)?.entry.id);
  const recorders = startRecorders({ redis, now: ctx.now, logger, actionLabel, store: ctx.store, retentionMs: retentionMs(config) });
  const metrics = new PrometheusMetrics({ now: ctx.now, actionLabel, window: () => recorders.stats.window(7) });
  ctx.observers.push(...recorders.observers, metrics);
  ctx.metrics = metrics;
  const slackApp = await createSlackApp(config, logger);
  let slack: { broker: SlackBroker; writes: SlackWrites; directory: ReviewerDirectory } | undefined;
  let groupChanges: GroupChanges | undefined;
  if (slackApp) {
    const writes = new SlackWrites(slackApp.client, logger);
    const directory = new ReviewerDirectory(slackApp.client);
    // Membership changes Slack sends to an API process reach this one's cache too.
    groupChanges = await GroupChanges.start(redis, [directory], logger);
    const broker = new SlackBroker({ writes, directory, store: ctx.store, policy: () => policy.current(), now: ctx.now, logger });
    ctx.observers.push(broker);
    slack = { broker, writes, directory };
  }
  const background = await startBackground(
    { redis, ctx, env, logger, policy: () => policy.current(), slack, retention: recorders.retention, jobFailed: (queue, parked) => metrics.jobFailed(queue, parked) },
    { ...options.background, runWorkers: true },
  );
  ctx.observers.push(...background.observers);
  if (slack && background.outbox) slack.broker.routeWritesThrough(background.outbox);
  process.on('SIGHUP', () => {
    void policy.reload().then((result) => {
      if (result.ok) logger.info({ policyVersion: result.version }, 'policies reloaded');
      else logger.error({ issues: result.error.issues }, `policy reload failed, keeping the last good set: ${result.error.message}`);
    });
  });
  logger.info({ slack: slack ? 'on' : 'off', policyVersion: policy.current().version, agentNetworks: ctx.agentNetworks.describe() }, 'Countersign workers running');
  return {
    ctx,
    background,
    metrics,
    async close() {
      await background.close();
      await recorders.close();
      await groupChanges?.close();
    },
  };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`countersign worker: ${(err as Error).message}\n`);
    process.exit(2);
  }
  if (!config.REDIS_URL) {
    process.stderr.write('countersign worker: REDIS_URL is required (workers share the API’s Redis)\n');
    process.exit(2);
  }
  const logger = createLogger(config.LOG_LEVEL).child({ role: 'worker' });
  const redis = connectRedis(config.REDIS_URL, logger);
  let workers: Workers;
  try {
    await whenReady(redis);
    workers = await startWorkers({ config, redis, logger });
  } catch (err) {
    logger.fatal(isCountersignError(err) ? { code: err.code, issues: err.issues } : { err }, 'worker start failed');
    redis.disconnect();
    process.exit(1);
  }
  let endpoints: { port: number; server: Server };
  try {
    endpoints = await serveWorkerEndpoints(workers, { redis, logger, port: config.PORT, host: config.HOST });
  } catch (err) {
    logger.fatal({ err: (err as Error).message, port: config.PORT }, 'worker start failed: /metrics cannot listen (set PORT to a free port)');
    await workers.close();
    redis.disconnect();
    process.exit(1);
  }
  logger.info({ port: endpoints.port }, 'worker serves /metrics, /healthz and /readyz');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Stop taking jobs, let running ones finish (or release them after the close timeout), then Redis.
    logger.info({ signal }, 'worker shutting down');
    endpoints.server.close();
    endpoints.server.closeIdleConnections();
    await workers.close();
    await quitWithin(redis, 2_000);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
