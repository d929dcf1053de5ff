import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { generateWebhookSecret } from '../../src/adapters/http/auth/standard-webhooks.js';
import { startPrivateRedis, type PrivateRedis } from '../../src/adapters/redis/private-redis.js';
import { loadConfig } from '../../src/config.js';
import { startCountersign, type Countersign } from '../../src/countersign.js';
import { POLICIES_DIR } from '../support/app.js';
import { call, signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';

// Setup: the app on its own redis-server, which the test then stops.
let redis: PrivateRedis;
let client: Redis;
let app: Countersign;
const secret = generateWebhookSecret();

beforeAll(async () => {
  redis = await startPrivateRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 200, lazyConnect: false });
  const env = { COUNTERSIGN_AGENT_DEMO_AGENT_SECRET: secret };
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', COUNTERSIGN_POLICIES: POLICIES_DIR, ...env });
  app = await startCountersign({ config, redis: client, logger: pino({ level: 'silent' }), env });
});
afterAll(async () => {
  await app.close();
  client.disconnect();
  await redis.stop();
});

test('when Redis goes away, readiness fails and writes answer 503 problems, never 500', async () => {
  expect((await call(app.url, 'GET', '/readyz')).status).toBe(200);
  await redis.stop();
  const ready = await call(app.url, 'GET', '/readyz');
  expect(ready.status).toBe(503);
  expect((await call(app.url, 'GET', '/healthz')).status).toBe(200);
  const write = await signedCall(app.url, 'demo-agent', secret, 'POST', '/v1/gates', { json: example('k8s-deploy-staging') });
  expect(write.status).toBe(503);
  expect(write.headers.get('content-type')).toBe('application/problem+json');
  expect(write.headers.get('retry-after')).toBe('1');
  expect(write.body.code).toBe('ERR_STORE_UNAVAILABLE');

  // Redis comes back on the same port: the app recovers without a restart.
  redis = await startPrivateRedis({ port: redis.port });
  const deadline = Date.now() + 10_000;
  while ((await call(app.url, 'GET', '/readyz')).status !== 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect((await call(app.url, 'GET', '/readyz')).status).toBe(200);
  const retried = await signedCall(app.url, 'demo-agent', secret, 'POST', '/v1/gates', { json: example('k8s-deploy-staging') });
  expect(retried.status).toBe(201);
}, 40_000);
