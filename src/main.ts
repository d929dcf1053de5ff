import { loadConfig } from './config.js';
import { AgentNetworks } from './core/agent-networks.js';
import { isCountersignError } from './core/errors.js';
import { createLogger } from './logger.js';
import { connectRedis, whenReady } from './adapters/redis/connect.js';
import { startPrivateRedis } from './adapters/redis/private-redis.js';
import { quitWithin } from './adapters/redis/settle-within.js';
import { startCountersign } from './countersign.js';
import { provideDevelopmentSecrets, writeDevelopmentSecrets } from './dev-secrets.js';

/** Ends a start that failed with one clear message (a policy error names file:line), never a stack trace. */
function fail(err: unknown, hint = ''): never {
  if (isCountersignError(err)) {
    // The message may list the issues already (a policy set's problems do).
    const listed = err.issues.length > 0 && err.message.includes(err.issues[0]!.message);
    const issues = listed ? '' : err.issues.map((i) => `\n  ${i.pointer}: ${i.message}`).join('');
    process.stderr.write(`countersign: ${err.message}${issues}${hint}\n`);
  } else {
    process.stderr.write(`countersign: ${(err as Error).message ?? String(err)}${hint}\n`);
  }
  process.exit(1);
}

/**
 * `npm start`: the one process entry point. Without REDIS_URL it runs on embedded defaults:
 * a private redis-server child in a temporary directory (nothing survives a restart).
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`countersign: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const logger = createLogger(config.LOG_LEVEL);

  let privateRedis: Awaited<ReturnType<typeof startPrivateRedis>> | undefined;
  let devSecrets: Record<string, string> = {};
  let redisUrl = config.REDIS_URL;
  if (!redisUrl) {
    try {
      privateRedis = await startPrivateRedis();
      redisUrl = privateRedis.url;
      logger.warn({ redis: redisUrl, dir: privateRedis.dir }, 'REDIS_URL is not set: using a private redis-server that keeps nothing after exit');
      // Embedded defaults are for trying Countersign out: give agents without a secret a fresh one.
      devSecrets = await provideDevelopmentSecrets(config.COUNTERSIGN_POLICIES, process.env);
    } catch (err) {
      await privateRedis?.stop();
      fail(err, isCountersignError(err) || /installed/.test(String(err)) ? '' : ' (is redis-server installed? or set REDIS_URL to a Redis of your own)');
    }
    // ... and, without Slack (nothing real to approve with), let local agents be called back.
    if (!config.SLACK_BOT_TOKEN && !config.COUNTERSIGN_AGENT_NETWORKS) {
      config = { ...config, COUNTERSIGN_AGENT_NETWORKS: AgentNetworks.publicAndLoopback };
      logger.warn('development mode: agent callback and revalidation URLs may also lead to loopback (set COUNTERSIGN_AGENT_NETWORKS to choose)');
    }
    // Throwaway secrets and loopback callbacks are for this machine only: listen on loopback
    // unless HOST says otherwise.
    if (!process.env.HOST?.trim()) config = { ...config, HOST: '127.0.0.1' };
  }
  // Queues, job handlers and the audit chain use their own connections, made from this one.
  const redis = connectRedis(redisUrl, logger);

  let app;
  try {
    await whenReady(redis);
    app = await startCountersign({ config, redis, logger });
    // Serving now: local scripts may sign with this run's secrets.
    writeDevelopmentSecrets(devSecrets, logger);
  } catch (err) {
    if (isCountersignError(err)) logger.fatal({ code: err.code, issues: err.issues }, err.message);
    else logger.fatal({ err }, 'start failed');
    redis.disconnect();
    await privateRedis?.stop();
    fail(err);
  }

  process.on('SIGHUP', () => {
    void app.policy.reload().then((result) => {
      if (result.ok) logger.info({ policyVersion: result.version }, 'policies reloaded');
      else logger.error({ issues: result.error.issues }, `policy reload failed, keeping the last good set: ${result.error.message}`);
    });
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await app.close();
    await quitWithin(redis, 2_000);
    await privateRedis?.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

void main();
