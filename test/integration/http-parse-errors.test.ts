import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { connect } from 'node:net';
import { startTestApp, type TestApp } from '../support/app.js';

// What Node's HTTP parser refuses before any route sees it is answered as problem+json too.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.close();
});

function raw(request: string): Promise<string> {
  const { port } = new URL(t.app.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.end(request));
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

test('headers over the limit are 431 with a problem body', async () => {
  const answer = await raw(`GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
  expect(answer).toMatch(/^HTTP\/1\.1 431 /);
  expect(answer).toContain('content-type: application/problem+json');
  const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
  expect(body).toMatchObject({ status: 431, code: 'ERR_HEADERS_TOO_LARGE', type: 'https://countersign.dev/problems/headers-too-large' });
});

test('a request that is not HTTP is 400 with a problem body', async () => {
  const answer = await raw('HELLO THERE\r\n\r\n');
  expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ status: 400, code: 'ERR_MALFORMED_HTTP' });
});
