import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { generateWebhookSecret } from '../../src/adapters/http/auth/standard-webhooks.js';
import { DestinationRefused, MAX_ANSWER_BYTES, signedPost, type Resolve } from '../../src/adapters/queue/signed-post.js';
import { AgentNetworks } from '../../src/core/agent-networks.js';

const secret = generateWebhookSecret();
const LOOPBACK = AgentNetworks.publicAndLoopback;
const post = (url: string, networks: AgentNetworks, extra: { resolve?: Resolve; timeoutMs?: number } = {}) =>
  signedPost(url, '{"gateId":"g_x"}', { secret, id: 'deliver-g_x-v1', now: Date.now(), timeoutMs: extra.timeoutMs ?? 5_000, networks, ...(extra.resolve ? { resolve: extra.resolve } : {}) });

/** A resolver that knows only the given names (tests must not depend on the machine's DNS). */
const resolver =
  (names: Record<string, string[]>): Resolve =>
  async (hostname) =>
    (names[hostname] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

async function listen(server: Server, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  return (server.address() as AddressInfo).port;
}
async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

describe('answers', () => {
  // An agent endpoint that answers far more than anyone should read.
  const CHUNK = Buffer.alloc(1024 * 1024, 0x61);
  const CHUNKS = 256; // 256 MiB if read to the end
  let server: Server;
  let url: string;
  let written = 0;
  let finished = false;

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      let n = 0;
      const pump = () => {
        while (n < CHUNKS) {
          n += 1;
          written += CHUNK.length;
          if (!res.write(CHUNK)) return void res.once('drain', pump);
        }
        finished = true;
        res.end();
      };
      pump();
    });
    url = `http://127.0.0.1:${await listen(server)}/answer`;
  });
  afterAll(() => close(server));

  test('an answer is read up to 64 KiB and the rest is never fetched', async () => {
    // Execution
    const answer = await post(url, LOOPBACK, { timeoutMs: 10_000 });

    // Validation: the first 64 KiB arrive; the endpoint could not write its 256 MiB (the reader
    // hung up), so nothing near that was buffered on our side.
    expect(answer.status).toBe(200);
    expect(answer.text).toHaveLength(MAX_ANSWER_BYTES);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(finished).toBe(false);
    expect(written).toBeLessThan((CHUNKS * CHUNK.length) / 4);
  });
});

describe('destinations', () => {
  const received: Array<{ path: string; headers: IncomingHttpHeaders; body: string }> = [];
  let server: Server;
  let port: number;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ path: req.url ?? '', headers: req.headers, body });
        if (req.url === '/moved') res.writeHead(302, { location: '/elsewhere' }).end();
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    port = await listen(server);
  });
  afterAll(() => close(server));

  test('a loopback endpoint is refused by default, before anything is sent, and called as before once loopback is allowed', async () => {
    // Execution and validation 1: the default (public addresses only), by IP literal, by a
    // numeric form of it, and by name through the system resolver.
    for (const url of [`http://127.0.0.1:${port}/cb`, `http://2130706433:${port}/cb`, `http://localhost:${port}/cb`]) {
      const refused = await post(url, AgentNetworks.publicOnly).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(DestinationRefused);
      expect(refused).toMatchObject({ code: 'ERR_DESTINATION_REFUSED', verdict: { allowed: false, category: 'loopback' } });
      expect((refused as Error).message).toMatch(/(127\.0\.0\.1|::1)(,| is) a loopback address, which COUNTERSIGN_AGENT_NETWORKS does not allow/);
    }
    expect(received).toHaveLength(0);

    // Execution 2: loopback allowed.
    const answer = await post(`http://127.0.0.1:${port}/cb?x=1`, LOOPBACK);

    // Validation 2: delivered, signed, with the same headers as before.
    expect(answer).toEqual({ status: 200, text: '{"ok":true}' });
    const got = received.at(-1)!;
    expect(got.path).toBe('/cb?x=1');
    expect(got.headers).toMatchObject({ 'content-type': 'application/json', 'user-agent': 'countersign', 'webhook-id': 'deliver-g_x-v1' });
    expect(
      new Webhook(secret).verify(got.body, {
        'webhook-id': String(got.headers['webhook-id']),
        'webhook-timestamp': String(got.headers['webhook-timestamp']),
        'webhook-signature': String(got.headers['webhook-signature']),
      }),
    ).toEqual({ gateId: 'g_x' });
    // A redirect is an answer, never followed.
    expect((await post(`http://127.0.0.1:${port}/moved`, LOOPBACK)).status).toBe(302);
    expect(received.at(-1)!.path).toBe('/moved');
  });

  test('a name is checked against every address it resolves to, when connecting', async () => {
    // Setup: names that lead to this machine, to the metadata service, and half to a private network.
    const resolve = resolver({
      'agent.example.test': ['127.0.0.1'],
      'metadata.example.test': ['169.254.169.254'],
      'rebind.example.test': ['93.184.216.34', '10.0.0.5'],
      'public.example.test': ['93.184.216.34'],
    });
    const before = received.length;

    // Execution and validation: refused with the address named, and nothing sent.
    await expect(post(`https://agent.example.test:${port}/cb`, AgentNetworks.publicOnly, { resolve })).rejects.toThrow(
      'agent.example.test resolves to 127.0.0.1, a loopback address, which COUNTERSIGN_AGENT_NETWORKS does not allow',
    );
    await expect(post('https://metadata.example.test/latest', LOOPBACK, { resolve })).rejects.toMatchObject({
      host: 'metadata.example.test',
      verdict: { address: '169.254.169.254', category: 'link-local' },
    });
    await expect(post('https://rebind.example.test/cb', AgentNetworks.publicOnly, { resolve })).rejects.toThrow(/resolves to 10\.0\.0\.5, a private address/);
    await expect(post('http://public.example.test/cb', AgentNetworks.publicOnly, { resolve })).rejects.toThrow(
      'public.example.test resolves to 93.184.216.34, a public address: plain http is only for loopback addresses',
    );
    expect(received.length).toBe(before);

    // The address the check passed is the one connected to: the name reaches this server once allowed.
    expect((await post(`http://agent.example.test:${port}/named`, LOOPBACK, { resolve })).status).toBe(200);
    expect(received.at(-1)!.path).toBe('/named');
  });

  test('an IPv4 address in IPv6 clothing is judged as the IPv4 address', async () => {
    await expect(post(`http://[::ffff:127.0.0.1]:${port}/cb`, AgentNetworks.publicOnly)).rejects.toThrow(
      '::ffff:7f00:1 is a loopback address, which COUNTERSIGN_AGENT_NETWORKS does not allow',
    );
    await expect(post('https://[::ffff:169.254.169.254]/x', LOOPBACK)).rejects.toBeInstanceOf(DestinationRefused);
  });

  test('the timeout covers resolving, connecting and the answer', async () => {
    // Setup: a resolver that never answers, and an endpoint that never does either.
    const never: Resolve = () => new Promise(() => undefined);
    const silent = createServer(() => undefined);
    const silentPort = await listen(silent);
    try {
      // Execution and validation
      let started = Date.now();
      await expect(post('https://slow.example.test/cb', AgentNetworks.publicOnly, { resolve: never, timeoutMs: 300 })).rejects.toThrow('no answer within 300 ms');
      expect(Date.now() - started).toBeLessThan(2_000);
      started = Date.now();
      await expect(post(`http://127.0.0.1:${silentPort}/cb`, LOOPBACK, { timeoutMs: 300 })).rejects.toThrow('no answer within 300 ms');
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await close(silent);
    }
  });
});

test('an outgoing message must carry an id of the outgoing namespace (the API refuses those as requests)', async () => {
  await expect(signedPost('https://203.0.113.9/cb', '{}', { secret, id: 'msg_1', now: Date.now(), timeoutMs: 1_000, networks: AgentNetworks.publicOnly })).rejects.toThrow('must begin with one of deliver-, revalidate-');
});
