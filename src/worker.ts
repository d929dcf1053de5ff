import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { startRecorders } from './adapters/admin/wiring.js';
import { actionLabelFor } from './adapters/metrics/gate-stats.js';
import { PolicyStore } from './adapters/policy/load.js';
import { startBackground, type Background, type BackgroundOptions } from './adapters/queue/background.js';
import { GateStore } from './adapters/redis/gate-store.js';
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

/**
 * Workers only, for scale-out: the same queues, workers, sweeper and Slack writer that
 * `npm start` runs next to the HTTP API, without the API. Run as many as needed against the
 * API's Redis (REDIS_URL is required: a private Redis would share nothing).
 */

export interface Workers {
  ctx: AppContext;
  background: Background;
  close(): Promise<void>;
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
  // as an API process does for its own changes.
  const recorders = startRecorders({
    redis,
    now: ctx.now,
    logger,
    actionLabel: actionLabelFor((action) => policy.current().index.action(action) !== undefined),
    store: ctx.store,
    retentionMs: retentionMs(config),
  });
  ctx.observers.push(...recorders.observers);
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
  const background = await startBackground({ redis, ctx, env, logger, policy: () => policy.current(), slack, retention: recorders.retention }, { ...options.background, runWorkers: true });
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
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3, enableAutoPipelining: true });
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  let workers: Workers;
  try {
    workers = await startWorkers({ config, redis, logger });
  } catch (err) {
    logger.fatal(isCountersignError(err) ? { code: err.code, issues: err.issues } : { err }, 'worker start failed');
    redis.disconnect();
    process.exit(1);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Stop taking jobs, let running ones finish (or release them after the close timeout), then Redis.
    logger.info({ signal }, 'worker shutting down');
    await workers.close();
    await quitWithin(redis, 2_000);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main();
