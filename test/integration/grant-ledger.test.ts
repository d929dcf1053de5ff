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
import { gateKeys } from '../../src/adapters/redis/keys.js';
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

/** A gate as a redeem leaves it: `redeemed`, its grant note naming `jti`. */
async function redeemedGate(jti: string, state = 'redeemed'): Promise<string> {
  const gid = `g_${jti.toUpperCase()}`;
  await redis.hset(gateKeys(gid).gate, 'state', state);
  await redis.hset(gateKeys(gid).notes, 'grant', JSON.stringify({ jti }));
  return gid;
}

const mint = async (jti: string, at = now, ttlSeconds = 300) =>
  mintGrant(approvedGate(undefined, await redeemedGate(jti)), { ring, issuer: ISSUER, now: at, jti, ttlSeconds, approvers: ['U0REVIEW1', 'U0REVIEW2'] });

const links = async (gid: string) => (await redis.lrange(gateKeys(gid).audit, 0, -1)).map((l) => JSON.parse(JSON.parse(l).entry));

describe('consumeGrant', () => {
  test('100 concurrent consumers: exactly one is first, the others learn who was; one link in the gate\'s chain', async () => {
    // Setup: one grant id, expiring in five minutes.
    const exp = Math.floor(now / 1000) + 300;
    const gid = await redeemedGate('grt_concurrent_1');

    // Execution: 100 executors try to consume it at once.
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => consumeGrant(redis, { jti: 'grt_concurrent_1', gid, exp }, `runner-${i}`, now + i)),
    );

    // Validation: one winner; every loser names that winner and its time.
    const winners = results.flatMap((r, i) => (r.first ? [i] : []));
    expect(winners).toHaveLength(1);
    const winner = winners[0]!;
    for (const r of results) {
      if (!r.first) expect(r).toEqual({ first: false, consumer: `runner-${winner}`, consumedAt: now + winner });
    }
    expect(await links(gid)).toEqual([{ event: 'grant_consumed', actor: `runner-${winner}`, at: now + winner, grantId: 'grt_concurrent_1' }]);
  });

  test('the marker lives until exp (plus the skew margin), under the gate\'s hash tag', async () => {
    const exp = Math.floor(now / 1000) + 120;
    const gid = await redeemedGate('grt_expiry_check');
    await consumeGrant(redis, { jti: 'grt_expiry_check', gid, exp }, 'deploy-runner', now);
    expect(gateKeys(gid).grantUsed).toBe(`cs:{g:${gid}}:grant-used`);
    expect(await redis.pexpiretime(gateKeys(gid).grantUsed)).toBe(exp * 1000 + LEDGER_SKEW_MARGIN_MS);
  });

  test('a gate whose outcome was reported, or a grant the gate did not issue: nothing is consumed', async () => {
    const exp = Math.floor(now / 1000) + 120;
    const done = await redeemedGate('grt_after_outcome', 'completed');
    expect(await consumeGrant(redis, { jti: 'grt_after_outcome', gid: done, exp }, 'deploy-runner', now)).toEqual({ first: false, closed: 'completed' });
    const other = await redeemedGate('grt_the_real_one');
    expect(await consumeGrant(redis, { jti: 'grt_another_one', gid: other, exp }, 'deploy-runner', now)).toEqual({ first: false, foreign: true });
    expect(await redis.exists(gateKeys(done).grantUsed, gateKeys(other).grantUsed)).toBe(0);
    expect(await links(done)).toEqual([]);
    // Asked again, the same answer: the refusal left no claim behind.
    expect(await redis.exists(grantUsedKey('grt_after_outcome'), grantUsedKey('grt_another_one'))).toBe(0);
    expect(await consumeGrant(redis, { jti: 'grt_after_outcome', gid: done, exp }, 'deploy-runner', now)).toEqual({ first: false, closed: 'completed' });
  });

  test('while older replicas still run, a grant consumed here is claimed where they look too', async () => {
    const exp = Math.floor(now / 1000) + 120;
    const gid = await redeemedGate('grt_rolling_upgrade');
    expect(await consumeGrant(redis, { jti: 'grt_rolling_upgrade', gid, exp }, 'new-runner', now)).toEqual({ first: true });
    // What an older replica does to consume: SET NX on its key. It finds the grant taken.
    expect(await redis.call('SET', grantUsedKey('grt_rolling_upgrade'), '{"consumer":"old-runner"}', 'NX', 'PXAT', String(exp * 1000), 'GET')).toBe(JSON.stringify({ consumer: 'new-runner', consumedAt: now }));
  });

  test('a grant consumed before the marker moved to the gate (an upgrade under way) stays consumed', async () => {
    const exp = Math.floor(now / 1000) + 120;
    const gid = await redeemedGate('grt_before_upgrade');
    await redis.set(grantUsedKey('grt_before_upgrade'), JSON.stringify({ consumer: 'old-runner', consumedAt: now - 5 }), 'PXAT', exp * 1000);
    expect(await consumeGrant(redis, { jti: 'grt_before_upgrade', gid, exp }, 'new-runner', now)).toEqual({ first: false, consumer: 'old-runner', consumedAt: now - 5 });
  });

  test('a grant id with a colon or brace never reaches Redis', async () => {
    for (const jti of ['grt:1:used', 'grt_{other}_1']) {
      const err = await consumeGrant(redis, { jti, gid: 'g_X', exp: Math.floor(now / 1000) + 60 }, 'x', now).then(
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
    const foreign = await mintGrant(approvedGate(undefined, await redeemedGate('grt_introspect_foreign')), {
      ring: stranger,
      issuer: ISSUER,
      now,
      jti: 'grt_introspect_foreign',
      ttlSeconds: 300,
      approvers: [],
    });
    await expect(introspect(foreign.token)).resolves.toEqual({ active: false, reason: 'unknown_key' });
    // None of the refusals burnt the genuine grant.
    expect(await redis.exists(gateKeys('g_GRT_INTROSPECT_INVALID').grantUsed)).toBe(0);
    await expect(introspect(token, { audience: ['data-export-runner'] })).resolves.toMatchObject({ active: true });
  });

  test('a grant is inactive before nbf, and stays unconsumed for its valid time', async () => {
    const later = await mint('grt_introspect_future', now + 60_000);
    await expect(introspect(later.token)).resolves.toEqual({ active: false, reason: 'not_yet_valid' });
    await expect(introspect(later.token, { now: now + 60_000 })).resolves.toMatchObject({ active: true });
  });
});
