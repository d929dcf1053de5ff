import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { generateWebhookSecret } from '../../src/adapters/http/auth/standard-webhooks.js';
import { loadPolicySet } from '../../src/adapters/policy/load.js';
import type { BackgroundOptions } from '../../src/adapters/queue/background.js';
import { submitGate } from '../../src/app/submit-gate.js';
import { loadConfig } from '../../src/config.js';
import { startCountersign } from '../../src/countersign.js';
import type { Gate } from '../../src/core/gate.js';
import type { Delivery } from '../../src/core/gate-request.js';
import { DEMO_WORKSPACE } from '../../src/sandbox/demo-workspace.js';
import { DEFAULT_TOKEN, startSlackWebApi, type SlackWebApiStandIn } from '../../src/sandbox/slack-web-api.js';
import { POLICIES_DIR, type TestApp } from '../support/app.js';
import { example } from '../support/gates.js';
import { testRedisUrl } from '../support/redis.js';
import { SIGNING_SECRET, type SlackTestApp } from '../support/slack.js';

/** Background settings that make a test's timers, retries and sweeps fit in seconds. */
export const FAST_BACKGROUND: Partial<BackgroundOptions> = {
  sweepEveryMs: 500,
  sweepGraceMs: 500,
  rearmEveryMs: 60_000,
  revalidateEveryMs: 1_000,
  httpTimeoutMs: 2_000,
  delivery: { attempts: 8, backoffMs: 100, timeoutMs: 2_000 },
  slackClaimGraceMs: 1_000,
  closeTimeoutMs: 2_000,
};

export interface JobsApp extends TestApp {
  slack?: SlackWebApiStandIn;
}

/**
 * The real product (HTTP, Slack broker, queues and workers) on this test file's Redis database,
 * with the Slack stand-in when `slack` is set (or another Slack API at `slackApiUrl`), and
 * background settings for tests. `env` holds the agent secrets and the given `env` (e.g.
 * COUNTERSIGN_AGENT_NETWORKS), for child processes to share.
 */
export async function startJobsApp(
  options: { slack?: boolean; slackApiUrl?: string; background?: Partial<BackgroundOptions>; flush?: boolean; env?: NodeJS.ProcessEnv; logger?: Logger } = {},
): Promise<JobsApp> {
  const set = await loadPolicySet(POLICIES_DIR);
  const secrets: Record<string, string> = {};
  const env: NodeJS.ProcessEnv = { ...options.env };
  for (const agent of set.agents instanceof Map ? set.agents.values() : Object.values(set.agents)) {
    if (agent.auth.method !== 'hmac') continue;
    secrets[agent.id] = generateWebhookSecret();
    env[agent.auth.secretEnv] = secrets[agent.id];
  }
  const slack = options.slack ? await startSlackWebApi({ ...DEMO_WORKSPACE }) : undefined;
  const slackApiUrl = options.slackApiUrl ?? slack?.url;
  if (slackApiUrl) Object.assign(env, { SLACK_BOT_TOKEN: DEFAULT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_API_URL: slackApiUrl });
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 2 });
  if (options.flush !== false) await redis.flushdb();
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', COUNTERSIGN_POLICIES: POLICIES_DIR, LOG_LEVEL: 'silent', ...env });
  const logger = options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const app = await startCountersign({ config, redis, logger, env, background: { ...FAST_BACKGROUND, ...options.background } });
  return {
    app,
    redis,
    secrets,
    env,
    ...(slack ? { slack } : {}),
    async close() {
      await app.close();
      await redis.quit();
      await slack?.close();
    },
  };
}

/** The app as the Slack test helpers (click, changeRecord …) want it. */
export const withSlack = (t: JobsApp): SlackTestApp => t as SlackTestApp;

/**
 * Submits an example through the real intake use case, with the review window cut to
 * `windowSeconds` (policy windows are minutes; tests wait seconds). Observers see the create.
 */
export async function shortGate(
  t: JobsApp,
  options: { name: string; agent: string; windowSeconds: number; delivery?: Delivery; patch?: Record<string, unknown> },
): Promise<Gate> {
  const ctx = t.app.ctx;
  const agent = ctx.agent(options.agent)!;
  const body = { ...example(options.name), ...options.patch, delivery: { ...options.delivery } } as Record<string, unknown>;
  const decide: typeof ctx.decide = (request, agentId, now) => {
    const decision = ctx.decide(request, agentId, now);
    return decision.review ? { ...decision, review: { ...decision.review, reviewWindowSeconds: options.windowSeconds } } : decision;
  };
  const { gate } = await submitGate({ ...ctx, decide }, { agent, body, idempotencyKey: randomUUID() });
  return gate;
}

export interface Received {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** What tests whose agent endpoints listen on loopback must set: agent URLs are public-only by default. */
export const LOOPBACK_AGENTS = { COUNTERSIGN_AGENT_NETWORKS: 'loopback' };

/** A local HTTP server standing in for an agent's callback and revalidation endpoints. */
export interface AgentEndpoint {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/** Starts the endpoint; `answer` decides each response (default 200 `{}`). */
export async function startAgentEndpoint(
  answer: (req: Received, n: number) => { status: number; json?: unknown } = () => ({ status: 200, json: {} }),
): Promise<AgentEndpoint> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { at: Date.now(), path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(r);
      const { status, json } = answer(r, received.length);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json ?? {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Messages in a thread of the stand-in's workspace. */
export function threadOf(slack: SlackWebApiStandIn, ts: string) {
  return [...slack.state.conversations.values()].flatMap((c) => c.messages).filter((m) => m.thread_ts === ts);
}

/** Text of a stored message (fallback text and blocks). */
export const textOf = (m: { text: string; blocks?: unknown }) => `${m.text} ${JSON.stringify(m.blocks ?? [])}`;
