import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { generateWebhookSecret } from '../../src/adapters/http/auth/standard-webhooks.js';
import { MAX_ANSWER_BYTES, signedPost } from '../../src/adapters/queue/signed-post.js';

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
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/answer`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test('an answer is read up to 64 KiB and the rest is never fetched', async () => {
  // Execution
  const answer = await signedPost(url, '{"gateId":"g_x"}', { secret: generateWebhookSecret(), id: 'msg_big', now: Date.now(), timeoutMs: 10_000 });

  // Validation: the first 64 KiB arrive; the endpoint could not write its 256 MiB (the reader
  // hung up), so nothing near that was buffered on our side.
  expect(answer.status).toBe(200);
  expect(answer.text).toHaveLength(MAX_ANSWER_BYTES);
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(finished).toBe(false);
  expect(written).toBeLessThan((CHUNKS * CHUNK.length) / 4);
});
