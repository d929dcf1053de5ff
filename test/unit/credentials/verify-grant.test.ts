import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { mintGrant, type GrantClaims } from '../../../src/adapters/credentials/grant.js';
import { jwksResponse } from '../../../src/adapters/credentials/jwks.js';
import { KeyRing, rotateKeys } from '../../../src/adapters/credentials/key-ring.js';
import { verifyGrant, GrantVerificationError, type VerifyGrantOptions } from '../../../src/client/verify-grant.js';
import { freePort } from '../../../src/adapters/redis/private-redis.js';
import { approvedGate, ISSUER, recordingLogger, T0, tempKeyDir } from './fixtures.js';

const AUDIENCE = 'data-export-runner';
const NOW = new Date(T0 + 5_000);
let ring: KeyRing;
let token: string;
let claims: GrantClaims;

beforeAll(async () => {
  const dir = tempKeyDir();
  await rotateKeys(dir, { now: T0, maxGrantTtlSeconds: 900 });
  ring = await KeyRing.load(dir, { now: T0, maxGrantTtlSeconds: 900 });
  ({ token, claims } = await mintGrant(approvedGate(), {
    ring,
    issuer: ISSUER,
    now: T0,
    jti: 'grt_01JD4Z7Q2M',
    ttlSeconds: 300,
    approvers: ['U0REVIEW1', 'U0REVIEW2'],
  }));
});

const options = (extra: Partial<VerifyGrantOptions> = {}): VerifyGrantOptions => ({
  jwks: ring.publicJwks(T0),
  issuer: ISSUER,
  audience: AUDIENCE,
  now: NOW,
  ...extra,
});

async function refusal(promise: Promise<unknown>): Promise<GrantVerificationError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof GrantVerificationError)) throw new Error(`expected a GrantVerificationError, got ${String(err)}`);
  return err;
}

const part = (s: string) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Signs arbitrary claims and header with the ring's real key: a token the service never issued. */
async function signWithRing(payload: Record<string, unknown>, header: Record<string, unknown> = {}) {
  const { kid, privateKey } = ring.current();
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'countersign-grant+jwt', kid, ...header }).sign(privateKey);
}

describe('verifyGrant accepts', () => {
  test('a genuine grant for exactly what is about to run, resources in any order', async () => {
    const expect_ = {
      action: 'data.export',
      environment: 'production',
      resources: [...claims.resources].reverse(),
      evidenceHash: approvedGate().evidenceHash,
      permissions: ['db:select'],
    };
    await expect(verifyGrant(token, options({ expect: expect_ }))).resolves.toEqual(claims);
  });

  test('a grant within the clock tolerance on either side', async () => {
    await expect(verifyGrant(token, options({ now: new Date((claims.exp + 29) * 1000) }))).resolves.toBeDefined();
    await expect(verifyGrant(token, options({ now: new Date((claims.nbf - 29) * 1000) }))).resolves.toBeDefined();
  });
});

describe('verifyGrant refuses', () => {
  test('to run without an audience or an issuer (a missing setting must not skip the check)', async () => {
    const noAudience = await refusal(verifyGrant(token, { ...options(), audience: undefined as unknown as string }));
    expect(noAudience.code).toBe('ERR_GRANT_AUDIENCE');
    const noIssuer = await refusal(verifyGrant(token, { ...options(), issuer: undefined as unknown as string }));
    expect(noIssuer.code).toBe('ERR_GRANT_ISSUER');
  });

  test('an expectation whose value is missing (an unset variable) refuses instead of skipping the check', async () => {
    for (const expectation of [{ action: undefined }, { evidenceHash: '' }, { action: 'data.export', environment: undefined }]) {
      const err = await refusal(verifyGrant(token, { ...options(), expect: expectation as never }));
      expect(err.code).toBe('ERR_GRANT_MISMATCH');
    }
  });

  test('a token with a lifetime no grant has, or issued in the future, even signed with the real key', async () => {
    const iat = Math.floor(T0 / 1000);
    const tenYears = await signWithRing({ ...claims, iat, nbf: iat, exp: iat + 10 * 365 * 86_400 });
    expect((await refusal(verifyGrant(tenYears, options()))).code).toBe('ERR_GRANT_MALFORMED');
    const future = iat + 10 * 365 * 86_400;
    const postdated = await signWithRing({ ...claims, iat: future, nbf: iat, exp: future + 300 });
    expect((await refusal(verifyGrant(postdated, options()))).code).toMatch(/^ERR_GRANT_(NOT_YET_VALID|MALFORMED)$/);
  });

  test('a tampered payload', async () => {
    const [h, p, s] = token.split('.') as [string, string, string];
    const forged = `${h}.${b64({ ...part(p), resources: [{ type: 's3.bucket', id: 's3://anything' }] })}.${s}`;
    expect((await refusal(verifyGrant(forged, options()))).code).toBe('ERR_GRANT_INVALID_SIGNATURE');
  });

  test('a tampered header (typ changed)', async () => {
    const [h, p, s] = token.split('.') as [string, string, string];
    const forged = `${b64({ ...part(h), typ: 'JWT' })}.${p}.${s}`;
    expect((await refusal(verifyGrant(forged, options()))).code).toBe('ERR_GRANT_INVALID_SIGNATURE');
  });

  test('alg none, and HS256 keyed with the public key', async () => {
    const [h, p] = token.split('.') as [string, string, string];
    const none = `${b64({ ...part(h), alg: 'none' })}.${p}.`;
    expect((await refusal(verifyGrant(none, options()))).code).toBe('ERR_GRANT_ALGORITHM');
    const secret = new TextEncoder().encode(JSON.stringify(ring.publicJwks(T0).keys[0]));
    const hmac = await new SignJWT(part(p))
      .setProtectedHeader({ alg: 'HS256', typ: 'countersign-grant+jwt', kid: ring.current().kid })
      .sign(secret);
    expect((await refusal(verifyGrant(hmac, options()))).code).toBe('ERR_GRANT_ALGORITHM');
  });

  test('a correctly signed token of another type', async () => {
    const other = await signWithRing({ ...claims }, { typ: 'JWT' });
    expect((await refusal(verifyGrant(other, options()))).code).toBe('ERR_GRANT_TYPE');
  });

  test('a grant for another executor', async () => {
    expect((await refusal(verifyGrant(token, options({ audience: 'iam-broker' })))).code).toBe('ERR_GRANT_AUDIENCE');
  });

  test('a grant from another issuer', async () => {
    const err = await refusal(verifyGrant(token, options({ issuer: 'https://countersign.attacker.example' })));
    expect(err.code).toBe('ERR_GRANT_ISSUER');
  });

  test('an expired grant, past the tolerance', async () => {
    const err = await refusal(verifyGrant(token, options({ now: new Date((claims.exp + 31) * 1000) })));
    expect(err.code).toBe('ERR_GRANT_EXPIRED');
    const strict = await refusal(verifyGrant(token, options({ now: new Date(claims.exp * 1000), clockToleranceSeconds: 0 })));
    expect(strict.code).toBe('ERR_GRANT_EXPIRED');
  });

  test('a grant that is not valid yet', async () => {
    const err = await refusal(verifyGrant(token, options({ now: new Date((claims.nbf - 31) * 1000) })));
    expect(err.code).toBe('ERR_GRANT_NOT_YET_VALID');
  });

  test('a grant signed by a key the JWKS does not publish, or by another key under a published kid', async () => {
    const stranger = await KeyRing.development(recordingLogger(), { now: T0 });
    const foreign = await mintGrant(approvedGate(), {
      ring: stranger,
      issuer: ISSUER,
      now: T0,
      jti: 'grt_foreign_key',
      ttlSeconds: 300,
      approvers: [],
    });
    expect((await refusal(verifyGrant(foreign.token, options()))).code).toBe('ERR_GRANT_UNKNOWN_KEY');

    const lookalike = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'countersign-grant+jwt', kid: ring.current().kid })
      .sign(stranger.current().privateKey);
    expect((await refusal(verifyGrant(lookalike, options()))).code).toBe('ERR_GRANT_INVALID_SIGNATURE');
  });

  test.each([
    ['action', { action: 'data.delete' }],
    ['environment', { environment: 'staging' }],
    ['evidenceHash', { evidenceHash: `sha256:${'0'.repeat(64)}` }],
    ['resources', { resources: [{ type: 'postgres.table', id: 'crm-prod/public.customers' }] }],
    [
      'resources',
      {
        resources: [
          { type: 'postgres.table', id: 'crm-prod/public.customers' },
          { type: 's3.bucket', id: 's3://analytics-scratch-us/churn-2026-10/' },
          { type: 's3.bucket', id: 's3://public-bucket/' },
        ],
      },
    ],
    ['resources', { resources: [{ type: 'postgres.table', id: 'crm-prod/public.customers' }, { type: 's3.bucket', id: 's3://other/' }] }],
    ['permissions', { permissions: ['db:select', 'db:ddl'] }],
  ])('a genuine grant for something else: %s', async (field, expectation) => {
    const err = await refusal(verifyGrant(token, options({ expect: expectation })));
    expect(err.code).toBe('ERR_GRANT_MISMATCH');
    expect(err.details.field).toBe(field);
  });

  test('garbage, a token without kid, and signed claims that lack grant fields', async () => {
    expect((await refusal(verifyGrant('not-a-token', options()))).code).toBe('ERR_GRANT_MALFORMED');
    const { privateKey } = ring.current();
    const noKid = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'ES256', typ: 'countersign-grant+jwt' }).sign(privateKey);
    expect((await refusal(verifyGrant(noKid, options()))).code).toBe('ERR_GRANT_MALFORMED');
    const { evh: _evh, ...withoutHash } = claims;
    expect((await refusal(verifyGrant(await signWithRing(withoutHash), options()))).code).toBe('ERR_GRANT_MALFORMED');
  });
});

describe('verifyGrant with a JWKS URL', () => {
  let server: Server;
  let url: string;
  let fetches = 0;
  let served: KeyRing;

  beforeAll(async () => {
    served = ring;
    server = createServer((req, res) => {
      fetches += 1;
      const answer = jwksResponse(served, T0, req.headers['if-none-match']);
      res.writeHead(answer.status, answer.headers).end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('fetches the JWKS once and reuses it for later grants', async () => {
    await expect(verifyGrant(token, { jwksUrl: url, issuer: ISSUER, audience: AUDIENCE, now: NOW })).resolves.toEqual(claims);
    await expect(verifyGrant(token, { jwksUrl: url, issuer: ISSUER, audience: AUDIENCE, now: NOW })).resolves.toEqual(claims);
    expect(fetches).toBe(1);
  });

  test('an unreachable JWKS is ERR_GRANT_JWKS_UNAVAILABLE, never a pass', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/.well-known/jwks.json`;
    const err = await refusal(verifyGrant(token, { jwksUrl: closed, issuer: ISSUER, audience: AUDIENCE, now: NOW }));
    expect(err.code).toBe('ERR_GRANT_JWKS_UNAVAILABLE');
  });

  test('a key rotated in after the first fetch is picked up once the 5 s refetch cooldown has passed', async () => {
    // Setup: a verifier that has just fetched the JWKS (its own URL, so its own cache).
    const rotatedUrl = `${url}?rotated`;
    await expect(verifyGrant(token, { jwksUrl: rotatedUrl, issuer: ISSUER, audience: AUDIENCE, now: NOW })).resolves.toBeDefined();
    const dir = tempKeyDir();
    await rotateKeys(dir, { now: T0, maxGrantTtlSeconds: 900 });
    const next = await KeyRing.load(dir, { now: T0, maxGrantTtlSeconds: 900 });
    const fresh = await mintGrant(approvedGate(), { ring: next, issuer: ISSUER, now: T0, jti: 'grt_new_key_1', ttlSeconds: 300, approvers: [] });
    served = next;
    // Only Date is frozen: the fetch itself needs real timers.
    jest.useFakeTimers({ doNotFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'nextTick', 'queueMicrotask', 'hrtime', 'performance'] });
    try {
      const verify = () => verifyGrant(fresh.token, { jwksUrl: rotatedUrl, issuer: ISSUER, audience: AUDIENCE, now: NOW });
      // Execution and validation: refused within the cooldown, accepted after it.
      jest.setSystemTime(Date.now() + 1_000);
      expect((await refusal(verify())).code).toBe('ERR_GRANT_UNKNOWN_KEY');
      jest.setSystemTime(Date.now() + 5_000);
      await expect(verify()).resolves.toMatchObject({ jti: 'grt_new_key_1' });
    } finally {
      jest.useRealTimers();
      served = ring;
    }
  });
});
