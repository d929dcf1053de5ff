import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Redis } from 'ioredis';
import { mintGrant } from '../../src/adapters/credentials/grant.js';
import { KeyRing, rotateKeys } from '../../src/adapters/credentials/key-ring.js';
import {
  consumeGrant,
  grantUsedKey,
  introspectGrant,
  LEDGER_SKEW_MARGIN_MS,
} from '../../src/adapters/redis/grant-ledger.js';
import { isCountersignError } from '../../src/core/errors.js';
import { freshRedis } from '../support/redis.js';
import { approvedGate, ISSUER, recordingLogger, tempKeyDir } from '../unit/credentials/fixtures.js';

let redis: Redis;
let ring: KeyRing;
// Real time here: Redis expires keys on its own clock, so the ledger's PXAT must be in its future.
const now = Date.now();

beforeAll(async () => {
  redis = await freshRedis();
  const dir = tempKeyDir();
  await rotateKeys(dir, { now, maxGrantTtlSeconds: 900 });
  ring = await KeyRing.load(dir, { now, maxGrantTtlSeconds: 900 });
});
afterAll(async () => {
  await redis.quit();
});

const mint = (jti: string, at = now, ttlSeconds = 300) =>
  mintGrant(approvedGate(), { ring, issuer: ISSUER, now: at, jti, ttlSeconds, approvers: ['U0REVIEW1', 'U0REVIEW2'] });

describe('consumeGrant', () => {
  test('100 concurrent consumers: exactly one is first, the others learn who was', async () => {
    // Setup: one grant id, expiring in five minutes.
    const exp = Math.floor(now / 1000) + 300;

    // Execution: 100 executors try to consume it at once.
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => consumeGrant(redis, 'grt_concurrent_1', exp, `runner-${i}`, now + i)),
    );

    // Validation: one winner; every loser names that winner and its time.
    const winners = results.flatMap((r, i) => (r.first ? [i] : []));
    expect(winners).toHaveLength(1);
    const winner = winners[0]!;
    for (const r of results) {
      if (!r.first) expect(r).toEqual({ first: false, consumer: `runner-${winner}`, consumedAt: now + winner });
    }
  });

  test('the marker lives until exp (plus the skew margin), under the hash-tagged key', async () => {
    const exp = Math.floor(now / 1000) + 120;
    await consumeGrant(redis, 'grt_expiry_check', exp, 'deploy-runner', now);
    expect(grantUsedKey('grt_expiry_check')).toBe('cs:{grant:grt_expiry_check}:used');
    const expireAt = await redis.pexpiretime('cs:{grant:grt_expiry_check}:used');
    expect(expireAt).toBe(exp * 1000 + LEDGER_SKEW_MARGIN_MS);
  });

  test('a grant id with a colon or brace never reaches Redis', async () => {
    for (const jti of ['grt:1:used', 'grt_{other}_1']) {
      const err = await consumeGrant(redis, jti, Math.floor(now / 1000) + 60, 'x', now).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isCountersignError(err, 'ERR_INVALID_TOKEN')).toBe(true);
    }
    expect(await redis.keys('*grt:1*')).toEqual([]);
  });
});

describe('introspectGrant', () => {
  const introspect = (token: string, extra: Partial<Parameters<typeof introspectGrant>[1]> = {}) =>
    introspectGrant(token, { ring, issuer: ISSUER, redis, consumer: 'data-export-runner', now: now + 1_000, ...extra });

  test('active with the claims the first time, inactive already_used the second', async () => {
    const { token, claims } = await mint('grt_introspect_twice');
    await expect(introspect(token)).resolves.toEqual({ active: true, ...claims });
    await expect(introspect(token)).resolves.toEqual({ active: false, reason: 'already_used' });
  });

  test('concurrent introspections of one grant: one active answer', async () => {
    const { token } = await mint('grt_introspect_race');
    const answers = await Promise.all(Array.from({ length: 20 }, () => introspect(token)));
    expect(answers.filter((a) => a.active)).toHaveLength(1);
  });

  test('invalid grants are inactive with their reason and are not consumed', async () => {
    const { token } = await mint('grt_introspect_invalid');
    const [h, p, s] = token.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, env: 'staging' })).toString('base64url')}.${s}`;
    await expect(introspect(forged)).resolves.toEqual({ active: false, reason: 'invalid_signature' });
    await expect(introspect('garbage')).resolves.toEqual({ active: false, reason: 'malformed' });
    await expect(introspect(token, { issuer: 'https://elsewhere.example' })).resolves.toEqual({ active: false, reason: 'wrong_issuer' });
    await expect(introspect(token, { audience: ['deploy-runner'] })).resolves.toEqual({ active: false, reason: 'wrong_audience' });
    await expect(introspect(token, { now: now + 301_000 + 5_000 })).resolves.toEqual({ active: false, reason: 'expired' });

    const stranger = await KeyRing.development(recordingLogger(), { now });
    const foreign = await mintGrant(approvedGate(), {
      ring: stranger,
      issuer: ISSUER,
      now,
      jti: 'grt_introspect_foreign',
      ttlSeconds: 300,
      approvers: [],
    });
    await expect(introspect(foreign.token)).resolves.toEqual({ active: false, reason: 'unknown_key' });
    // None of the refusals burnt the genuine grant.
    expect(await redis.exists(grantUsedKey('grt_introspect_invalid'))).toBe(0);
    await expect(introspect(token, { audience: ['data-export-runner'] })).resolves.toMatchObject({ active: true });
  });

  test('a grant is inactive before nbf, and stays unconsumed for its valid time', async () => {
    const later = await mint('grt_introspect_future', now + 60_000);
    await expect(introspect(later.token)).resolves.toEqual({ active: false, reason: 'not_yet_valid' });
    await expect(introspect(later.token, { now: now + 60_000 })).resolves.toMatchObject({ active: true });
  });
});
