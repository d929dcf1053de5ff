import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadConfig, LogLevelSchema, publicUrl } from './config.js';
import { startCountersign, type Countersign } from './countersign.js';
import { AgentNetworks } from './core/agent-networks.js';
import { provideDevelopmentSecrets, writeDevelopmentSecrets } from './dev-secrets.js';
import { REDACT_PATHS } from './logger.js';
import { connectRedis } from './adapters/redis/connect.js';
import { startPrivateRedis, type PrivateRedis } from './adapters/redis/private-redis.js';
import { DEMO_WORKSPACE, demoUser } from './sandbox/demo-workspace.js';
import { readScenario, runScriptedAgent, type AgentEvent } from './sandbox/scripted-agent.js';
import { SandboxServer } from './sandbox/server.js';
import { DEFAULT_TOKEN, SlackWebApiStandIn } from './sandbox/slack-web-api.js';

/**
 * `npm run demo`: the whole product on one laptop, with nothing but Node and redis-server.
 * A private Redis (unless REDIS_URL), the app with a development key, a Slack sandbox whose
 * Web API stand-in the app talks to through SLACK_API_URL (the same code path as real Slack),
 * and a scripted agent that asks for the examples. Prints one URL; Ctrl-C stops everything.
 */

const ROOT = join(import.meta.dirname, '..');
const LOG_FILE = join('.countersign', 'demo.log');

/** The wanted port, or any free one when it is taken and the user did not ask for it. */
async function portFor(variable: string, fallback: number): Promise<number> {
  const wanted = process.env[variable]?.trim();
  if (wanted !== undefined && wanted !== '') {
    if (!/^\d{1,5}$/.test(wanted) || Number(wanted) > 65_535) throw new Error(`invalid configuration:\n  ${variable} must be a port number (0–65535, digits only)`);
    return Number(wanted);
  }
  const free = await new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(fallback, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
  return free ? fallback : 0;
}

async function main(): Promise<void> {
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const level = LogLevelSchema.safeParse(process.env.LOG_LEVEL);
  if (!level.success) {
    process.stderr.write(`countersign demo: invalid configuration:\n  LOG_LEVEL ${level.error.issues[0]?.message ?? 'is invalid'}\n`);
    process.exit(1);
  }
  mkdirSync('.countersign', { recursive: true, mode: 0o700 });
  const logger = pino(
    { level: level.data, base: { service: 'countersign' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: LOG_FILE, sync: false, mkdir: true }),
  );

  let privateRedis: PrivateRedis | undefined;
  let redis: Redis | undefined;
  let app: Countersign | undefined;
  let sandbox: SandboxServer | undefined;
  const agentStop = new AbortController();
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    agentStop.abort();
    await app?.close().catch(() => undefined);
    await sandbox?.close().catch(() => undefined);
    if (redis) await redis.quit().catch(() => redis?.disconnect());
    await privateRedis?.stop().catch(() => undefined);
    logger.flush();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    const env: NodeJS.ProcessEnv = { ...process.env };
    let redisUrl = env.REDIS_URL;
    if (!redisUrl) {
      privateRedis = await startPrivateRedis();
      redisUrl = privateRedis.url;
    }

    // The sandbox first: the app needs its Web API URL, and it needs the app's URL only later.
    const signingSecret = randomBytes(24).toString('hex');
    const standIn = new SlackWebApiStandIn({ ...DEMO_WORKSPACE });
    sandbox = new SandboxServer({
      standIn,
      signingSecret,
      defaultActor: demoUser('grace').id,
      hint: 'Approve the IAM change in #security-approvals as Grace Lee, then as Omar Haddad: dual control needs both.',
    });
    await sandbox.listen(await portFor('SANDBOX_PORT', 3001), '127.0.0.1');

    // Socket Mode would bypass the sandbox: the demo always runs in HTTP mode against it.
    Object.assign(env, {
      REDIS_URL: redisUrl,
      PORT: String(await portFor('PORT', 3000)),
      HOST: env.HOST ?? '127.0.0.1',
      SLACK_BOT_TOKEN: DEFAULT_TOKEN,
      SLACK_SIGNING_SECRET: signingSecret,
      SLACK_API_URL: sandbox.slackApiUrl,
      SLACK_APP_TOKEN: '',
      // Platform leads (Marta) may try the admin commands: /countersign freeze, mode, break-glass.
      COUNTERSIGN_ADMIN_GROUP: env.COUNTERSIGN_ADMIN_GROUP ?? 'S06JZDE8GXD',
    });
    let config = loadConfig(env);
    const devSecrets = await provideDevelopmentSecrets(config.COUNTERSIGN_POLICIES, env);
    // Agents tried out next to the demo run on this machine: they may be called back on loopback.
    if (!config.COUNTERSIGN_AGENT_NETWORKS) {
      config = { ...config, COUNTERSIGN_AGENT_NETWORKS: AgentNetworks.publicAndLoopback };
      logger.warn('development mode: agent callback and revalidation URLs may also lead to loopback (set COUNTERSIGN_AGENT_NETWORKS to choose)');
    }
    redis = connectRedis(redisUrl, logger);
    app = await startCountersign({ config, redis, logger, env });
    writeDevelopmentSecrets(devSecrets, logger);
    sandbox.setAppUrl(app.url);

    out('Countersign demo');
    out();
    out(`  Open ${sandbox.url}/?as=grace`);
    out();
    out('  A scripted agent asks for the six example actions: two are allowed at once, four wait for');
    out('  reviewers. Act as Grace Lee, then Omar Haddad, and approve the IAM change in #security-approvals;');
    out('  the agent then redeems its grant and the executor consumes it.');
    out(`  API on port ${app.port}${app.port === 3000 ? '' : ` (for the CLI: COUNTERSIGN_URL=http://localhost:${app.port})`}; logs in ${LOG_FILE}. Ctrl-C stops everything.`);
    out(`  Its Redis, for \`countersign audit verify\`, \`trace\` and \`report\`: REDIS_URL=${redisUrl}`);
    out();

    const report = (e: AgentEvent) => {
      sandbox?.activity({ agent: e.agent, text: `${e.example}: ${e.text}`, ...(e.gateId ? { gateId: e.gateId } : {}), ...(e.state ? { state: e.state } : {}) });
      out(`  [agent] ${e.agent.padEnd(15)} ${e.example}: ${e.text}${e.gateId ? `  (${e.gateId})` : ''}`);
    };
    await runScriptedAgent({ url: app.url, issuer: publicUrl(config, app.port), root: ROOT, scenario: readScenario(ROOT), env, report, signal: agentStop.signal });
  } catch (err) {
    process.stderr.write(`countersign demo: ${err instanceof Error ? err.message : String(err)}\n`);
    logger.error({ err }, 'demo failed to start');
    await stop(1);
  }
}

void main();
