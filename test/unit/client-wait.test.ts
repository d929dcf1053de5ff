import { afterEach, describe, expect, test } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateWebhookSecret } from '../../src/adapters/http/auth/standard-webhooks.js';
import { CountersignClient } from '../../src/client/client.js';
import { WaitTimeoutError } from '../../src/client/errors.js';

// client.wait keeps to its timeout however the service behaves: an answer that never comes, or
// a 503 asking to come back in an hour.

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function serve(handler: (n: number, res: import('node:http').ServerResponse) => void): Promise<string> {
  let n = 0;
  server = createServer((req, res) => {
    req.resume();
    n += 1;
    handler(n, res);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const pending = JSON.stringify({ id: 'g_1', state: 'pending_review' });
const client = (url: string) => new CountersignClient({ url, agentId: 'demo-agent', secret: generateWebhookSecret() });

describe('CountersignClient.wait', () => {
  test('a service that stops answering: WaitTimeoutError at the timeout, not minutes later', async () => {
    const url = await serve((n, res) => {
      if (n === 1) res.writeHead(200, { 'content-type': 'application/json' }).end(pending);
      // later polls: never answered
    });
    const started = Date.now();
    await expect(client(url).wait('g_1', { timeoutMs: 1_500, intervalMs: 100 })).rejects.toBeInstanceOf(WaitTimeoutError);
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 20_000);

  test('a 503 with Retry-After: 3600: WaitTimeoutError at the timeout', async () => {
    const url = await serve((n, res) => {
      if (n === 1) res.writeHead(200, { 'content-type': 'application/json' }).end(pending);
      else res.writeHead(503, { 'retry-after': '3600', 'content-type': 'application/problem+json' }).end('{}');
    });
    const started = Date.now();
    await expect(client(url).wait('g_1', { timeoutMs: 1_500, intervalMs: 100 })).rejects.toBeInstanceOf(WaitTimeoutError);
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 20_000);
});
