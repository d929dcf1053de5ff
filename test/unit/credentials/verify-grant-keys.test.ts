import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mintGrant } from '../../../src/adapters/credentials/grant.js';
import { KeyRing, rotateKeys } from '../../../src/adapters/credentials/key-ring.js';
import { verifyGrant, GrantVerificationError } from '../../../src/client/verify-grant.js';
import { approvedGate, ISSUER, T0, tempKeyDir } from './fixtures.js';

const AUDIENCE = 'data-export-runner';
const NOW = new Date(T0 + 5_000);
let ringA: KeyRing;
let ringB: KeyRing;
let tokenA: string;
let tokenB: string;

beforeAll(async () => {
  const a = tempKeyDir();
  await rotateKeys(a, { now: T0, maxGrantTtlSeconds: 900 });
  ringA = await KeyRing.load(a, { now: T0, maxGrantTtlSeconds: 900 });
  const b = tempKeyDir();
  await rotateKeys(b, { now: T0, maxGrantTtlSeconds: 900 });
  ringB = await KeyRing.load(b, { now: T0, maxGrantTtlSeconds: 900 });
  tokenA = (await mintGrant(approvedGate(), { ring: ringA, issuer: ISSUER, now: T0, jti: 'grt_probe_A1', ttlSeconds: 300, approvers: [] })).token;
  tokenB = (await mintGrant(approvedGate(), { ring: ringB, issuer: ISSUER, now: T0, jti: 'grt_probe_B1', ttlSeconds: 300, approvers: [] })).token;
});

const outcome = (p: Promise<unknown>) => p.then(() => 'accepted', (e: unknown) => (e instanceof GrantVerificationError ? e.code : String(e)));

describe('verifyGrant with a key set the executor keeps', () => {
  test('a key set refreshed in place is read again: a removed key is refused, a new one accepted at once', async () => {
    const jwks = { keys: [...ringA.publicJwks(T0).keys] } as { keys: unknown[] };
    expect(await outcome(verifyGrant(tokenA, { jwks: jwks as never, issuer: ISSUER, audience: AUDIENCE, now: NOW }))).toBe('accepted');
    // The executor learns key A was withdrawn and key B is the new one, and updates its JWKS object.
    jwks.keys = [...ringB.publicJwks(T0).keys];
    const removed = await outcome(verifyGrant(tokenA, { jwks: jwks as never, issuer: ISSUER, audience: AUDIENCE, now: NOW }));
    const added = await outcome(verifyGrant(tokenB, { jwks: jwks as never, issuer: ISSUER, audience: AUDIENCE, now: NOW }));
    expect(removed).toBe('ERR_GRANT_UNKNOWN_KEY');
    expect(added).toBe('accepted');
  });
});

describe('verifyGrant with the served JWKS', () => {
  let server: Server;
  let url: string;
  let served: { keys: unknown[] };
  let fetches = 0;
  beforeAll(async () => {
    served = ringA.publicJwks(T0);
    server = createServer((_req, res) => {
      fetches += 1;
      res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=60, stale-while-revalidate=30' });
      res.end(JSON.stringify(served));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('a key withdrawn from the JWKS stops verifying once the served cache time (max-age + stale) is over', async () => {
    expect(await outcome(verifyGrant(tokenA, { jwksUrl: url, issuer: ISSUER, audience: AUDIENCE, now: NOW }))).toBe('accepted');
    served = ringB.publicJwks(T0); // key A withdrawn (e.g. compromised, file deleted)
    jest.useFakeTimers({ doNotFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'nextTick', 'queueMicrotask', 'hrtime', 'performance'] });
    try {
      jest.setSystemTime(Date.now() + 2 * 60_000);
      const r = await outcome(verifyGrant(tokenA, { jwksUrl: url, issuer: ISSUER, audience: AUDIENCE, now: NOW }));
      expect(r).toBe('ERR_GRANT_UNKNOWN_KEY');
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('verifyGrant clock tolerance', () => {
  test('is capped at 300 s: a grant expired a day ago is refused whatever the caller allows', async () => {
    const dayLater = new Date(T0 + 86_400_000);
    const jwks = ringA.publicJwks(T0);
    expect(await outcome(verifyGrant(tokenA, { jwks, issuer: ISSUER, audience: AUDIENCE, now: dayLater, clockToleranceSeconds: 1e9 }))).toBe('ERR_GRANT_EXPIRED');
  });

  test('a tolerance or a clock that is not a number is a usage error, not "keys unavailable, retry"', async () => {
    const jwks = ringA.publicJwks(T0);
    const at = new Date(T0 + 1_000);
    await expect(verifyGrant(tokenA, { jwks, issuer: ISSUER, audience: AUDIENCE, now: at, clockToleranceSeconds: Number(undefined) })).rejects.toThrow(
      new TypeError('verifyGrant: clockToleranceSeconds must be a finite number of seconds, got NaN'),
    );
    await expect(verifyGrant(tokenA, { jwks, issuer: ISSUER, audience: AUDIENCE, now: new Date('undefined') })).rejects.toThrow(/^verifyGrant: now must be a valid Date/);
  });
});
