import { afterEach, describe, expect, test } from '@jest/globals';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../../src/adapters/http/body.js';
import { CountersignError, ErrorCode } from '../../src/core/errors.js';

/**
 * readBody against real sockets: bodies sent chunked (no Content-Length, so only counting can
 * stop them), in several pieces, and cut off by the client.
 */

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A server whose every request is read with readBody(limit); resolves with what it settled to. */
async function reader(limit: number): Promise<{ port: number; settled: Promise<Buffer | Error> }> {
  let settle!: (v: Buffer | Error) => void;
  const settled = new Promise<Buffer | Error>((resolve) => (settle = resolve));
  server = createServer((req: IncomingMessage, res) => {
    readBody(req, limit).then(
      async (body) => {
        // Read again once ended: nothing more, and no wait for an 'end' that already came.
        const again = await readBody(req, limit);
        settle(again.length === 0 ? body : new Error(`read ${again.length} bytes twice`));
        res.end('ok');
      },
      (err: Error) => {
        settle(err);
        res.statusCode = 413;
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, settled };
}

/** Sends `pieces` chunked (Transfer-Encoding: chunked), one write each; `abort` destroys the socket after them. */
function sendChunked(port: number, pieces: string[], abort = false): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request({ port, host: '127.0.0.1', method: 'POST', path: '/', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(undefined));
    let i = 0;
    const next = () => {
      if (i < pieces.length) {
        req.write(pieces[i++], () => setTimeout(next, 5));
        return;
      }
      if (abort) req.destroy();
      else req.end();
    };
    next();
  });
}

describe('readBody', () => {
  test('joins a body sent in several chunks', async () => {
    const { port, settled } = await reader(1024);
    expect(await sendChunked(port, ['{"a":', '"b', 'c"}'])).toBe(200);
    const body = await settled;
    expect(Buffer.isBuffer(body) && body.toString('utf8')).toBe('{"a":"bc"}');
  });

  test('a chunked body with no Content-Length is refused once its count passes the limit', async () => {
    const { port, settled } = await reader(16);
    const status = await sendChunked(port, ['x'.repeat(10), 'y'.repeat(10), 'z'.repeat(10)]);
    const err = await settled;
    expect(err).toBeInstanceOf(CountersignError);
    expect((err as CountersignError).code).toBe(ErrorCode.PayloadTooLarge);
    expect((err as Error).message).toBe('body exceeds the 16-byte limit');
    expect(status).toBe(413);
  });

  test('a client that goes away mid-body settles the read instead of leaving it waiting', async () => {
    const { port, settled } = await reader(1024);
    await sendChunked(port, ['{"a":'], true);
    const err = await settled;
    // Node reports the reset ('aborted') before the close; either way the read ends with an error.
    expect(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE']).toContain((err as Error & { code?: string }).code);
  });
});
