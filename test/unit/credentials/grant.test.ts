import { beforeAll, describe, expect, test } from '@jest/globals';
import { createPublicKey } from 'node:crypto';
import { compactVerify, importJWK } from 'jose';
import jwt from 'jsonwebtoken';
import { GRANT_TYP, mintGrant, MAX_GRANT_TTL_SECONDS } from '../../../src/adapters/credentials/grant.js';
import { KeyRing, rotateKeys } from '../../../src/adapters/credentials/key-ring.js';
import { isCountersignError } from '../../../src/core/errors.js';
import { approvedGate, ISSUER, T0, tempKeyDir } from './fixtures.js';

let ring: KeyRing;

beforeAll(async () => {
  const dir = tempKeyDir();
  await rotateKeys(dir, { now: T0, maxGrantTtlSeconds: 900 });
  ring = await KeyRing.load(dir, { now: T0, maxGrantTtlSeconds: 900 });
});

const mint = (overrides: Partial<Parameters<typeof mintGrant>[1]> = {}) =>
  mintGrant(approvedGate(), {
    ring,
    issuer: ISSUER,
    now: T0 + 1_500,
    jti: 'grt_01JD4Z7Q2M',
    ttlSeconds: 300,
    approvers: ['U0REVIEW1', 'U0REVIEW2'],
    ...overrides,
  });

describe('mintGrant', () => {
  test('a grant verifies with jsonwebtoken against the published JWK converted by node:crypto', async () => {
    // Setup: a grant, and the JWKS an executor would fetch.
    const { token } = await mint();
    const jwk = ring.publicJwks(T0).keys[0]!;
    const publicKey = createPublicKey({ key: jwk, format: 'jwk' });

    // Execution: a JWT library other than jose verifies it.
    const decoded = jwt.verify(token, publicKey, {
      algorithms: ['ES256'],
      audience: 'data-export-runner',
      issuer: ISSUER,
      clockTimestamp: Math.floor(T0 / 1000) + 10,
      complete: true,
    });

    // Validation: header and claims as DESIGN.md "Grants" defines them.
    expect(decoded.header).toEqual({ alg: 'ES256', typ: GRANT_TYP, kid: jwk.kid });
    expect(decoded.payload).toEqual({
      iss: ISSUER,
      aud: 'data-export-runner',
      sub: 'analytics-agent',
      act: { sub: 'priya.nair@example.com' },
      jti: 'grt_01JD4Z7Q2M',
      gid: 'g_01JD4Z7Q2M8K',
      iat: Math.floor(T0 / 1000) + 1,
      nbf: Math.floor(T0 / 1000) + 1,
      exp: Math.floor(T0 / 1000) + 1 + 300,
      env: 'production',
      action: 'data.export',
      resources: [
        { type: 'postgres.table', id: 'crm-prod/public.customers' },
        { type: 's3.bucket', id: 's3://analytics-scratch-us/churn-2026-10/' },
      ],
      permissions: ['db:select', 's3:PutObject'],
      evh: approvedGate().evidenceHash,
      approvers: ['U0REVIEW1', 'U0REVIEW2'],
      pol: 'sha256:policy-v1',
    });
  });

  test('jose verifies the grant as a compact JWS: ES256 with a 64-byte R‖S signature, claims intact', async () => {
    // Setup: a grant whose requester has a non-ASCII name in an approver id, and the published key.
    const { token, claims } = await mint({ approvers: ['U0REVIEW1', 'zoë@example.com'] });
    const jwk = ring.publicJwks(T0).keys[0]!;

    // Execution: jose's own compact verification, then the raw signature.
    const { payload, protectedHeader } = await compactVerify(token, await importJWK(jwk, 'ES256'), { algorithms: ['ES256'] });
    const signature = Buffer.from(token.split('.')[2]!, 'base64url');

    // Validation
    expect(protectedHeader).toEqual({ alg: 'ES256', typ: GRANT_TYP, kid: jwk.kid });
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual(claims);
    expect(claims.approvers).toContain('zoë@example.com');
    expect(signature).toHaveLength(64);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  });

  test('jsonwebtoken refuses the grant once a payload byte changed', async () => {
    const { token } = await mint();
    const [h, p, s] = token.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    payload.env = 'staging';
    const forged = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    const publicKey = createPublicKey({ key: ring.publicJwks(T0).keys[0]!, format: 'jwk' });
    expect(() => jwt.verify(forged, publicKey, { algorithms: ['ES256'], clockTimestamp: Math.floor(T0 / 1000) })).toThrow(
      /invalid signature/,
    );
  });

  test('the lifetime follows the policy TTL but never exceeds what the key ring keeps keys published for', async () => {
    const short = await mint({ ttlSeconds: 120 });
    expect(short.claims.exp - short.claims.iat).toBe(120);
    expect(short.expiresAt).toBe(short.claims.exp * 1000);
    const capped = await mint({ ttlSeconds: 86_400 });
    expect(capped.claims.exp - capped.claims.iat).toBe(ring.maxGrantTtlSeconds);
    expect(ring.maxGrantTtlSeconds).toBeLessThanOrEqual(MAX_GRANT_TTL_SECONDS);
  });

  test('a grant id that could break the ledger key is refused', async () => {
    for (const jti of ['grt:01JD4Z7Q2M', 'grt_{x}_01JD4', 'short', '']) {
      const err = await mint({ jti }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isCountersignError(err)).toBe(true);
    }
  });

  test('resource attributes stay out of the grant; only type and id are bound', async () => {
    const { claims } = await mint();
    for (const r of claims.resources) expect(Object.keys(r).sort()).toEqual(['id', 'type']);
  });
});
