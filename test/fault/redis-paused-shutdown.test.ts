import { afterAll, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { generateWebhookSecret } from '../../src/adapters/http/auth/standard-webhooks.js';
import { connectRedis } from '../../src/adapters/redis/connect.js';
import { startPrivateRedis, type PrivateRedis } from '../../src/adapters/redis/private-redis.js';
import { loadConfig } from '../../src/config.js';
import { startCountersign } from '../../src/countersign.js';
import { POLICIES_DIR } from '../support/app.js';
import { signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';

// A Redis that stops answering (paused here with SIGSTOP; a network partition looks the same):
// the TCP connections stay open, and every command waits for a reply that does not come.
let redis: PrivateRedis | undefined;
afterAll(async () => {
  redis?.kill('SIGCONT');
  await redis?.stop();
});

/** Resolves to 'timeout' when `work` takes longer than `ms`. */
function within<T>(work: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout;
  return Promise.race([work, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]).finally(() => clearTimeout(timer));
}

test('with Redis not answering, shutdown still ends: requests under way are cut off, queues and figures given up when one grace period is over', async () => {
  // Setup: the app as npm start wires it (connectRedis), a 2 s grace period.
  redis = await startPrivateRedis();
  const client = connectRedis(redis.url, pino({ level: 'silent' }));
  const secret = generateWebhookSecret();
  const env = { COUNTERSIGN_AGENT_DEMO_AGENT_SECRET: secret };
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', COUNTERSIGN_POLICIES: POLICIES_DIR, ...env });
  const app = await startCountersign({ config, redis: client, logger: pino({ level: 'silent' }), env, background: { closeTimeoutMs: 2_000 } });
  // A gate before the pause, so figures and an audit copy are waiting to be written.
  expect((await signedCall(app.url, 'demo-agent', secret, 'POST', '/v1/gates', { json: example('k8s-deploy-staging') })).status).toBe(201);

  // Execution: Redis pauses; a request starts and waits on it; then the app is told to stop.
  redis.kill('SIGSTOP');
  const stuck = signedCall(app.url, 'demo-agent', secret, 'POST', '/v1/gates', { json: example('k8s-deploy-staging') }).then(
    (answer) => `answered ${answer.status}`,
    (err: unknown) => `cut off: ${String(err)}`,
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = Date.now();
  const closed = await within(app.close().then(() => 'closed'), 10_000);
  const tookMs = Date.now() - started;
  client.disconnect();

  // Validation: close returned (it used to wait for Redis for good), within one grace period for
  // all its steps (2 s, then the half second each later step gets at least: 3.5 s), not one per
  // step (8 s); and the waiting request was cut off.
  expect(closed).toBe('closed');
  expect(tookMs).toBeLessThan(6_000);
  expect(await within(stuck, 2_000)).toMatch(/^cut off/);
}, 30_000);
