import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { publicUrl, retentionMs, type Config } from './config.js';
import { MAX_GRANT_TTL_SECONDS } from './adapters/credentials/grant-claims.js';
import { KeyRing } from './adapters/credentials/key-ring.js';
import { KeyRingWatcher } from './adapters/credentials/key-ring-watcher.js';
import { mountAgentApi } from './adapters/http/agent-api.js';
import { mountOpenApi } from './adapters/http/openapi-route.js';
import { mountExecutionApi } from './adapters/http/execution-api.js';
import { AgentAuthenticator, secretsStatus } from './adapters/http/auth/authenticate.js';
import { Router } from './adapters/http/router.js';
import { createHttpServer, listen } from './adapters/http/server.js';
import { PolicyStore } from './adapters/policy/load.js';
import { GateStore } from './adapters/redis/gate-store.js';
import { IdempotencyStore } from './adapters/redis/idempotency-store.js';
import { ReplayGuard } from './adapters/redis/replay-guard.js';
import { announceExpiry, type AppContext, type GateObserver } from './app/ports.js';
import { MIN_SECRET_BYTES } from './adapters/http/auth/standard-webhooks.js';
import { CountersignError, ErrorCode } from './core/errors.js';
import { AgentNetworks } from './core/agent-networks.js';
import { bufferedRandom, idSource } from './core/ids.js';
import { evaluate } from './core/policy/evaluate.js';
import type { PolicyOverrides } from './core/policy/types.js';
import { registerInteractions } from './adapters/slack/interactions.js';
import { ReviewerDirectory } from './adapters/slack/reviewer-directory.js';
import { GroupChanges } from './adapters/slack/group-changes.js';
import { reviewedOpenIds } from './adapters/admin/home-index.js';
import { SlackBroker } from './adapters/slack/slack-broker.js';
import { createSlackApp, type SlackApp } from './adapters/slack/slack-app.js';
import { SlackWrites } from './adapters/slack/slack-writes.js';
import { DEFAULT_BACKGROUND_OPTIONS, startBackground, type Background, type BackgroundOptions } from './adapters/queue/background.js';
import type { QueueName } from './adapters/queue/names.js';
import { checkDatabase } from './adapters/redis/database.js';
import { settleWithin } from './adapters/redis/settle-within.js';
import { startAdmin, startRecorders, type AdminOptions, type AdminWiring } from './adapters/admin/wiring.js';
import { actionLabelFor } from './adapters/metrics/gate-stats.js';

export interface CountersignOptions {
  config: Config;
  redis: Redis;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  observers?: GateObserver[];
  /** Queue and worker settings (tests shorten intervals); `runWorkers: false` only enqueues. */
  background?: Partial<BackgroundOptions>;
  /** Admin settings (tests shorten the post-hoc review reminders). */
  admin?: Partial<AdminOptions>;
}

/** A running Countersign: the HTTP server and everything behind it. */
export interface Countersign {
  port: number;
  url: string;
  ctx: AppContext;
  policy: PolicyStore;
  overrides: PolicyOverrides;
  server: Server;
  slack?: { app: SlackApp; broker: SlackBroker; writes: SlackWrites; directory: ReviewerDirectory };
  /** The grant signing keys: `ring` signs and is published now; `reload()` re-reads COUNTERSIGN_KEYS. */
  keyRing: GrantKeys;
  /** Queues, workers and sweeper (timers, revalidation, deliveries, Slack writes). */
  background: Background;
  /** Slash command, App Home, runtime overrides, metrics and the deployment audit chain. */
  admin: AdminWiring;
  close(): Promise<void>;
}

/** The key ring a replica signs with; a development ring never reloads. */
export type GrantKeys = Pick<KeyRingWatcher, 'ring' | 'reload' | 'stop'>;

/**
 * Wires the product: policy, store, authentication, the HTTP API on one port. The process
 * concerns (configuration, private Redis, signals) stay in src/main.ts.
 */
export async function startCountersign(options: CountersignOptions): Promise<Countersign> {
  const { config, redis, logger } = options;
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;

  await checkDatabase(redis);
  const policy = await PolicyStore.open(config.COUNTERSIGN_POLICIES, logger);
  const overrides: PolicyOverrides = {};
  const secretProblems = secretsStatus(policy.current().agents, env);
  // A secret that is set but unusable is a typo in the configuration: the start stops and names
  // it. One that is unset is an agent not deployed here (yet): it is refused until it is set.
  const unusable = secretProblems.filter((p) => p.problem === 'invalid');
  if (unusable.length > 0) {
    throw new CountersignError(
      ErrorCode.ConfigInvalid,
      `invalid configuration:\n  ${unusable.map((p) => `${p.secretEnv} is not a Standard Webhooks secret (whsec_ and base64 of at least ${MIN_SECRET_BYTES} bytes), so agent ${p.agentId} could not authenticate`).join('\n  ')}`,
      { issues: unusable.map((p) => ({ pointer: p.secretEnv, message: 'is not a Standard Webhooks secret' })) },
    );
  }
  for (const problem of secretProblems) {
    logger.warn(
      { agentId: problem.agentId, secretEnv: problem.secretEnv },
      `agent ${problem.agentId} cannot authenticate with HMAC: ${problem.secretEnv} is ${problem.problem}`,
    );
  }

  const ctx: AppContext = {
    store: new GateStore(redis),
    idempotency: new IdempotencyStore(redis),
    decide: (request, agentId, at) => evaluate({ request, agentId }, policy.current(), at, overrides),
    agent: (id) => lookupAgent(policy, id),
    ids: idSource(bufferedRandom((n) => randomBytes(n))),
    now,
    logger,
    observers: options.observers ?? [],
    agentNetworks: config.COUNTERSIGN_AGENT_NETWORKS ?? AgentNetworks.publicOnly,
  };
  ctx.store.onDeadlineApplied((gate, from) => announceExpiry(ctx, gate, from).then(() => undefined));

  const authenticator = new AgentAuthenticator({
    agents: () => policy.current().agents,
    env,
    replay: new ReplayGuard(redis),
    now,
  });
  const slackApp = await createSlackApp(config, logger);
  let slack: Countersign['slack'];
  let groupChanges: GroupChanges | undefined;
  if (slackApp) {
    const writes = new SlackWrites(slackApp.client, logger);
    const directory = new ReviewerDirectory(slackApp.client, { now });
    const broker = new SlackBroker({ writes, directory, store: ctx.store, policy: () => policy.current(), now, logger });
    ctx.observers.push(broker);
    registerInteractions(slackApp.app, { ctx, writes, directory });
    groupChanges = await GroupChanges.start(redis, [directory], logger, async (group) => {
      await broker.groupChanged(group, await reviewedOpenIds(redis));
    });
    groupChanges.register(slackApp.app);
    policy.onReloaded(async (previous) => {
      await broker.policyReloaded(previous, await reviewedOpenIds(redis));
    });
    slack = { app: slackApp, broker, writes, directory };
  } else {
    logger.warn('no SLACK_BOT_TOKEN: Slack is off, gates that need review wait without a change record');
  }
  const graceMs = options.background?.closeTimeoutMs ?? DEFAULT_BACKGROUND_OPTIONS.closeTimeoutMs;
  const recorders = startRecorders({
    redis,
    store: ctx.store,
    now,
    logger,
    actionLabel: actionLabelFor((action) => policy.current().index.action(action)?.entry.id),
    retentionMs: retentionMs(config),
  });
  // The counters live with the admin side, made next; failures before then go uncounted.
  let countJobFailure: ((queue: QueueName, parked: boolean) => void) | undefined;
  const background = await startBackground(
    { redis, ctx, env, logger, policy: () => policy.current(), slack, retention: recorders.retention, jobFailed: (queue, parked) => countJobFailure?.(queue, parked) },
    options.background,
  );
  ctx.observers.push(...background.observers);
  const admin = await startAdmin(
    {
      redis,
      ctx,
      policy,
      policyDir: config.COUNTERSIGN_POLICIES,
      overrides,
      adminGroup: config.COUNTERSIGN_ADMIN_GROUP,
      logger,
      slack: slack && slackApp ? { app: slackApp, writes: slack.writes, directory: slack.directory } : undefined,
      recorders,
      deliveries: {
        list: (start, end) => background.listParkedDeliveries(start, end),
        count: () => background.countParkedDeliveries(),
        replayOf: (gateId) => background.replayParkedDeliveriesOf(gateId),
      },
    },
    options.admin,
  );
  ctx.observers.push(...admin.observers);
  ctx.metrics ??= admin.metrics;
  countJobFailure = (queue, parked) => admin.metrics.jobFailed(queue, parked);
  if (slack && background.outbox) slack.broker.routeWritesThrough(background.outbox);

  const keyRing: GrantKeys = config.COUNTERSIGN_KEYS
    ? await KeyRingWatcher.start(config.COUNTERSIGN_KEYS, { maxGrantTtlSeconds: MAX_GRANT_TTL_SECONDS, logger, clock: now })
    : { ring: await KeyRing.development(logger, { now: now() }), reload: async () => false, stop: () => undefined };
  let issuer = config.COUNTERSIGN_PUBLIC_URL ?? '';

  const router = new Router(logger);
  mountAgentApi(router, ctx, admin.countingAuth(authenticator));
  mountOpenApi(router);
  mountExecutionApi(router, ctx, admin.countingAuth(authenticator), { ring: () => keyRing.ring, issuer: () => issuer, ledger: redis });
  admin.mount(router);
  const server = createHttpServer({ router, logger, redis, ...(slackApp?.httpListener ? { slackListener: slackApp.httpListener } : {}) });
  const port = await listen(server, config.PORT, config.HOST).catch((err: NodeJS.ErrnoException) => {
    // Name the setting to change, not only the system's error.
    const what =
      err.code === 'EADDRINUSE'
        ? `PORT ${config.PORT} is in use on ${config.HOST} (set PORT to a free port)`
        : err.code === 'ENOTFOUND' || err.code === 'EADDRNOTAVAIL' || err.code === 'EAI_AGAIN'
          ? `HOST ${config.HOST} is not an address of this machine (set HOST to one, or 0.0.0.0)`
          : `cannot listen on HOST ${config.HOST}, PORT ${config.PORT}`;
    throw new CountersignError(ErrorCode.ConfigInvalid, `${what}: ${err.code ?? err.message}`);
  });
  await slackApp?.start();
  const url = `http://127.0.0.1:${port}`;
  issuer = publicUrl(config, port);
  logger.info(
    { port, policyVersion: policy.current().version, slack: slackApp?.mode ?? 'off', agentNetworks: ctx.agentNetworks.describe() },
    `Countersign listening on ${url}`,
  );

  return {
    port,
    url,
    ctx,
    policy,
    overrides,
    server,
    ...(slack ? { slack } : {}),
    keyRing,
    background,
    admin,
    async close() {
      // One grace period for the whole shutdown; a step that runs out of it is cut short.
      const deadline = Date.now() + graceMs;
      const left = () => Math.max(500, deadline - Date.now());
      keyRing.stop();
      await slackApp?.stop();
      await groupChanges?.close();
      // Requests under way may finish (one waiting on a Redis that does not answer would hold
      // the server open for good); what is left at the deadline is cut off.
      const drained = new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      if (!(await settleWithin(drained, left()))) {
        logger.warn({ timeoutMs: graceMs }, 'requests still running at shutdown; closing their connections');
        server.closeAllConnections();
      }
      // After the HTTP side stopped taking requests: running jobs finish (or are released).
      await background.close(deadline);
      // Writing the last figures and audit copies needs Redis too: a warning when they could
      // not be written in time (each gate's own chain holds its entries regardless).
      if (!(await settleWithin(admin.close(), left()))) {
        logger.warn({ timeoutMs: graceMs }, 'Redis did not answer at shutdown; the last figures and audit copies were not written');
      }
    },
  };
}

function lookupAgent(policy: PolicyStore, id: string) {
  const agents = policy.current().agents as unknown;
  if (agents instanceof Map) return agents.get(id);
  return (agents as Record<string, never>)[id];
}
