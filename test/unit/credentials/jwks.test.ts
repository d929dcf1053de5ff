import { beforeAll, describe, expect, test } from '@jest/globals';
import { JWKS_CACHE, jwksResponse } from '../../../src/adapters/credentials/jwks.js';
import { KeyRing, rotateKeys } from '../../../src/adapters/credentials/key-ring.js';
import { T0, tempKeyDir } from './fixtures.js';

const lifecycle = (now: number) => ({ now, maxGrantTtlSeconds: 600 });
let dir: string;
let ring: KeyRing;

beforeAll(async () => {
  dir = tempKeyDir();
  await rotateKeys(dir, lifecycle(T0));
  ring = await KeyRing.load(dir, lifecycle(T0));
});

describe('jwksResponse', () => {
  test('serves the public keys as a JWK Set with short public caching and an ETag', () => {
    const answer = jwksResponse(ring, T0);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual(ring.publicJwks(T0));
    expect(answer.headers['content-type']).toBe('application/jwk-set+json');
    expect(answer.headers['cache-control']).toBe('public, max-age=60, stale-while-revalidate=30');
    expect(answer.headers.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    // A new key must reach cached verifiers within about one reload interval.
    expect(JWKS_CACHE.maxAgeSeconds + JWKS_CACHE.staleWhileRevalidateSeconds).toBeLessThanOrEqual(120);
  });

  test('answers 304 to a matching If-None-Match, and a new ETag once the key set changes', async () => {
    const first = jwksResponse(ring, T0);
    expect(jwksResponse(ring, T0, first.headers.etag)).toMatchObject({ status: 304, body: '' });
    expect(jwksResponse(ring, T0, `W/${first.headers.etag}, "other"`).status).toBe(304);
    expect(jwksResponse(ring, T0, '"stale"').status).toBe(200);

    await rotateKeys(dir, lifecycle(T0 + 1_000));
    const rotated = await KeyRing.load(dir, lifecycle(T0 + 1_000));
    const after = jwksResponse(rotated, T0 + 1_000, first.headers.etag);
    expect(after.status).toBe(200);
    expect(after.headers.etag).not.toBe(first.headers.etag);
    expect(JSON.parse(after.body).keys).toHaveLength(2);
  });
});
