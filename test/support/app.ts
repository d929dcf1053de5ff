import { Redis } from 'ioredis';
import { pino } from 'pino';
import { join } from 'node:path';
import { generateWebhookSecret } from '../../src/adapters/http/auth/standard-webhooks.js';
import { loadPolicySet } from '../../src/adapters/policy/load.js';
import { loadConfig } from '../../src/config.js';
import { startCountersign, type Countersign } from '../../src/countersign.js';
import { testRedisUrl } from './redis.js';

export const POLICIES_DIR = join(import.meta.dirname, '../../policies');

export interface TestApp {
  app: Countersign;
  redis: Redis;
  /** HMAC secret of every registered agent/executor, by id. */
  secrets: Record<string, string>;
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

/**
 * Starts the real product on a free port against this test file's Redis database, with the
 * default policy set and a fresh secret for every HMAC registration.
 */
export async function startTestApp(options: { policies?: string; env?: NodeJS.ProcessEnv; now?: () => number; flush?: boolean } = {}): Promise<TestApp> {
  const policies = options.policies ?? POLICIES_DIR;
  const set = await loadPolicySet(policies);
  const secrets: Record<string, string> = {};
  const env: NodeJS.ProcessEnv = { ...options.env };
  for (const agent of set.agents instanceof Map ? set.agents.values() : Object.values(set.agents)) {
    if (agent.auth.method !== 'hmac') continue;
    secrets[agent.id] = generateWebhookSecret();
    env[agent.auth.secretEnv] = secrets[agent.id];
  }
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 2 });
  if (options.flush !== false) await redis.flushdb();
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', COUNTERSIGN_POLICIES: policies, LOG_LEVEL: 'silent', ...env });
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const app = await startCountersign({ config, redis, logger, env, ...(options.now ? { now: options.now } : {}) });
  return {
    app,
    redis,
    secrets,
    env,
    async close() {
      await app.close();
      await redis.quit();
    },
  };
}
