import { afterAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { pino } from 'pino';
import { generateWebhookSecret } from '../../src/adapters/http/auth/standard-webhooks.js';
import { connectRedis, whenReady } from '../../src/adapters/redis/connect.js';
import { startPrivateRedis, type PrivateRedis } from '../../src/adapters/redis/private-redis.js';
import { loadConfig } from '../../src/config.js';
import { startCountersign, type Countersign } from '../../src/countersign.js';
import { POLICIES_DIR } from '../support/app.js';
import { signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';

// A Redis that stops answering (SIGSTOP; a network partition looks the same) keeps its TCP
// connections open: without a bound, every command would wait for good, and so would agents.
const redises: PrivateRedis[] = [];
afterAll(async () => {
  for (const r of redises) {
    r.kill('SIGCONT');
    await r.stop();
  }
});

function within<T>(work: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout;
  return Promise.race([work, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]).finally(() => clearTimeout(timer));
}

describe('Redis that does not answer', () => {
  test('an agent request gets a 503 problem within the command timeout, and its retry with the same key finds the gate once Redis is back', async () => {
    const redis = await startPrivateRedis();
    redises.push(redis);
    const logger = pino({ level: 'silent' });
    // Wired as npm start wires it.
    const client = connectRedis(redis.url, logger);
    await whenReady(client);
    const secret = generateWebhookSecret();
    const env = { COUNTERSIGN_AGENT_DEMO_AGENT_SECRET: secret };
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', COUNTERSIGN_POLICIES: POLICIES_DIR, ...env });
    let app: Countersign | undefined;
    try {
      app = await startCountersign({ config, redis: client, logger, env, background: { closeTimeoutMs: 1_000 } });
      const body = { ...example('k8s-deploy-staging'), summary: 'paused' };
      expect((await signedCall(app.url, 'demo-agent', secret, 'POST', '/v1/gates', { json: example('k8s-deploy-staging') })).status).toBe(201);

      redis.kill('SIGSTOP');
      const headers = { 'idempotency-key': 'paused-redis-1' };
      const answer = await within(signedCall(app.url, 'demo-agent', secret, 'POST', '/v1/gates', { json: body, headers }), 12_000);
      expect(answer).not.toBe('timeout');
      if (answer === 'timeout') return;
      expect(answer.status).toBe(503);
      expect(answer.headers.get('content-type')).toBe('application/problem+json');
      expect(answer.body.detail).toMatch(/retry.*same Idempotency-Key/);

      // Redis resumes; the retry with the same key answers with one gate, whether the first
      // attempt's writes landed late or not at all.
      redis.kill('SIGCONT');
      const retry = await signedCall(app.url, 'demo-agent', secret, 'POST', '/v1/gates', { json: body, headers });
      expect([200, 201]).toContain(retry.status);
      const again = await signedCall(app.url, 'demo-agent', secret, 'POST', '/v1/gates', { json: body, headers });
      expect(again.body.id).toBe(retry.body.id);
    } finally {
      redis.kill('SIGCONT');
      await app?.close();
      client.disconnect();
    }
  }, 40_000);

  test('a start with the wrong password stops at once and says so, naming REDIS_URL', async () => {
    const redis = await startPrivateRedis();
    redises.push(redis);
    const admin = connectRedis(redis.url, pino({ level: 'silent' }));
    await admin.config('SET', 'requirepass', 'right-password');
    admin.disconnect();
    const wrong = redis.url.replace('redis://', 'redis://:wrong-password@');
    const client = connectRedis(wrong, pino({ level: 'silent' }));
    const started = Date.now();
    const err = await whenReady(client).catch((e: unknown) => e as Error);
    client.disconnect();
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^REDIS_URL: Redis refused the connection's credentials \(WRONGPASS/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  test('npm start against a Redis that never answers ends with a message naming REDIS_URL, not a wait without end', async () => {
    const redis = await startPrivateRedis();
    redises.push(redis);
    redis.kill('SIGSTOP');
    const child = spawn(process.execPath, ['--import', '@swc-node/register/esm-register', 'src/main.ts'], {
      env: { ...process.env, REDIS_URL: redis.url, PORT: '0', LOG_LEVEL: 'silent', COUNTERSIGN_POLICIES: POLICIES_DIR },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await within(new Promise<number | null>((resolve) => child.on('exit', resolve)), 30_000);
    if (code === 'timeout') child.kill('SIGKILL');
    expect(code).toBe(1);
    expect(stderr).toMatch(/^countersign: REDIS_URL: Redis did not become ready within 15 s/m);
    expect(stderr).not.toMatch(/\n\s+at /);
  }, 40_000);
});
