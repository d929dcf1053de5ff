import { describe, expect, test } from '@jest/globals';
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { mintGrant } from '../../../src/adapters/credentials/grant.js';
import { KeyRingWatcher } from '../../../src/adapters/credentials/key-ring-watcher.js';
import {
  DEVELOPMENT_KEY_WARNING,
  KeyRing,
  PUBLICATION_MARGIN_SECONDS,
  pruneKeys,
  rotateKeys,
} from '../../../src/adapters/credentials/key-ring.js';
import { isCountersignError } from '../../../src/core/errors.js';
import { verifyGrant } from '../../../src/client/verify-grant.js';
import { approvedGate, ISSUER, recordingLogger, T0, tempKeyDir } from './fixtures.js';

const MAX_TTL = 600;
const lifecycle = (now: number) => ({ now, maxGrantTtlSeconds: MAX_TTL });
const S = 1000;

async function mintAt(ring: KeyRing, now: number, jti: string) {
  return mintGrant(approvedGate(), { ring, issuer: ISSUER, now, jti, ttlSeconds: 300, approvers: ['U01', 'U02'] });
}

describe('key rotation', () => {
  test('old grants verify until they expire, new grants carry the new kid, the old key leaves the JWKS after its publication period', async () => {
    // Setup: a first key, and a grant signed with it.
    const dir = tempKeyDir();
    const first = await rotateKeys(dir, lifecycle(T0));
    expect(first.retiredKid).toBeUndefined();
    const before = await KeyRing.load(dir, lifecycle(T0));
    const old = await mintAt(before, T0 + 10 * S, 'grt_before_rotation');

    // Execution: rotate one minute later; every replica reloads the ring.
    const second = await rotateKeys(dir, lifecycle(T0 + 60 * S));
    const after = await KeyRing.load(dir, lifecycle(T0 + 60 * S));
    const fresh = await mintAt(after, T0 + 70 * S, 'grt_after_rotation');

    // Validation: the rotation retired the first key, new grants use the new one.
    expect(second.retiredKid).toBe(first.newKid);
    expect(after.current().kid).toBe(second.newKid);
    expect(decodeKid(fresh.token)).toBe(second.newKid);
    expect(decodeKid(old.token)).toBe(first.newKid);

    // The JWKS served after the rotation still verifies the old grant while it is valid …
    const jwksAfter = after.publicJwks(T0 + 200 * S);
    expect(jwksAfter.keys.map((k) => k.kid)).toEqual([second.newKid, first.newKid]);
    const verify = (token: string, at: number, jwks = jwksAfter) =>
      verifyGrant(token, { jwks, issuer: ISSUER, audience: 'data-export-runner', now: new Date(at) });
    await expect(verify(old.token, T0 + 200 * S)).resolves.toMatchObject({ jti: 'grt_before_rotation' });
    await expect(verify(fresh.token, T0 + 200 * S)).resolves.toMatchObject({ jti: 'grt_after_rotation' });
    // … and refuses it once it has expired, whatever the JWKS holds.
    await expect(verify(old.token, old.expiresAt + 31 * S)).rejects.toMatchObject({ code: 'ERR_GRANT_EXPIRED' });

    // After retiredAt + maxGrantTtl + margin, the old key is no longer published.
    const end = T0 + 60 * S + (MAX_TTL + PUBLICATION_MARGIN_SECONDS) * S;
    expect(after.publicJwks(end - 1).keys.map((k) => k.kid)).toContain(first.newKid);
    expect(after.publicJwks(end).keys.map((k) => k.kid)).toEqual([second.newKid]);
    await expect(verify(old.token, end, after.publicJwks(end))).rejects.toMatchObject({ code: 'ERR_GRANT_UNKNOWN_KEY' });
  });

  test('a rotation after the publication period prunes the old key file; loading skips ended keys', async () => {
    const dir = tempKeyDir();
    const first = await rotateKeys(dir, lifecycle(T0));
    const second = await rotateKeys(dir, lifecycle(T0 + 60 * S));
    const end = T0 + 60 * S + (MAX_TTL + PUBLICATION_MARGIN_SECONDS) * S;

    const ring = await KeyRing.load(dir, lifecycle(end));
    expect(ring.describe(end).map((k) => k.kid)).toEqual([second.newKid]);

    const third = await rotateKeys(dir, lifecycle(end));
    expect(third.prunedKids).toEqual([first.newKid]);
    expect(readdirSync(dir).sort()).toEqual([`${second.newKid}.json`, `${third.newKid}.json`].sort());
  });

  test('a key rotated in with --activate-after is published first and signs only from its activation', async () => {
    const dir = tempKeyDir();
    const first = await rotateKeys(dir, lifecycle(T0));
    const next = await rotateKeys(dir, { ...lifecycle(T0 + 60 * S), activateAfterSeconds: 120 });
    const ring = await KeyRing.load(dir, lifecycle(T0 + 60 * S));

    expect(ring.current(T0 + 60 * S).kid).toBe(first.newKid);
    expect(ring.publicJwks(T0 + 60 * S).keys.map((k) => k.kid).sort()).toEqual([first.newKid, next.newKid].sort());
    expect(ring.current(T0 + 180 * S).kid).toBe(next.newKid);
    expect(ring.describe(T0 + 60 * S).map((k) => [k.kid, k.status])).toEqual([
      [next.newKid, 'pending'],
      [first.newKid, 'current'],
    ]);
    // The old key's publication runs from when it actually stopped signing.
    const end = T0 + 180 * S + (MAX_TTL + PUBLICATION_MARGIN_SECONDS) * S;
    expect(ring.publicJwks(end - 1).keys).toHaveLength(2);
    expect(ring.publicJwks(end).keys.map((k) => k.kid)).toEqual([next.newKid]);
  });

  test('key files are private JWKs with kid, alg and use, written with mode 0600 in a 0700 directory', async () => {
    const dir = tempKeyDir();
    const { newKid } = await rotateKeys(dir, lifecycle(T0));
    const file = join(dir, `${newKid}.json`);
    const jwk = JSON.parse(readFileSync(file, 'utf8'));
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', kid: newKid, alg: 'ES256', use: 'sig', createdAt: '2026-01-15T09:00:00.000Z' });
    expect(typeof jwk.d).toBe('string');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  test('publicJwks never carries a private member', async () => {
    const dir = tempKeyDir();
    await rotateKeys(dir, lifecycle(T0));
    await rotateKeys(dir, lifecycle(T0 + S));
    const ring = await KeyRing.load(dir, lifecycle(T0 + S));
    const privates = readdirSync(dir).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')).d as string);

    const served = JSON.stringify(ring.publicJwks(T0 + S));
    expect(ring.publicJwks(T0 + S).keys).toHaveLength(2);
    for (const key of ring.publicJwks(T0 + S).keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    }
    for (const d of privates) expect(served).not.toContain(d);
  });
});

describe('loading the key directory', () => {
  const configError = async (promise: Promise<unknown>, pattern: RegExp) => {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCountersignError(err, 'ERR_CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(pattern);
  };

  test('a missing directory, an empty one, or one with only retired keys stops the start', async () => {
    const dir = tempKeyDir();
    await configError(KeyRing.load(dir, lifecycle(T0)), /cannot read key directory/);
    mkdirSync(dir, { recursive: true });
    await configError(KeyRing.load(dir, lifecycle(T0)), /no key that can sign now.*keys rotate/);
    // A directory whose only key was retired (by hand, or by a half-finished rotation).
    const { newKid } = await rotateKeys(dir, lifecycle(T0));
    const file = join(dir, `${newKid}.json`);
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), retiredAt: new Date(T0 + S).toISOString() }));
    await expect(KeyRing.load(dir, lifecycle(T0))).resolves.toBeInstanceOf(KeyRing);
    await configError(KeyRing.load(dir, lifecycle(T0 + S)), /no key that can sign now/);
  });

  test('a file that is not an ES256 private key is named in the error', async () => {
    const dir = tempKeyDir();
    const { newKid } = await rotateKeys(dir, lifecycle(T0));
    const jwk = JSON.parse(readFileSync(join(dir, `${newKid}.json`), 'utf8'));
    writeFileSync(join(dir, 'public-only.json'), JSON.stringify({ ...jwk, kid: 'other', d: undefined }));
    await configError(KeyRing.load(dir, lifecycle(T0)), /public-only\.json.*\bd\b/);
  });

  test("a file whose public part is another key's is refused: it would sign grants nobody can verify", async () => {
    const dir = tempKeyDir();
    const { newKid } = await rotateKeys(dir, lifecycle(T0));
    const other = tempKeyDir();
    const { newKid: otherKid } = await rotateKeys(other, lifecycle(T0));
    const jwk = JSON.parse(readFileSync(join(dir, `${newKid}.json`), 'utf8'));
    const stranger = JSON.parse(readFileSync(join(other, `${otherKid}.json`), 'utf8'));
    writeFileSync(join(dir, `${newKid}.json`), JSON.stringify({ ...jwk, x: stranger.x, y: stranger.y }), { mode: 0o600 });
    await configError(KeyRing.load(dir, lifecycle(T0)), /is not the public half of its private key/);
  });

  test('a key file others can read loads, with a warning naming it', async () => {
    const dir = tempKeyDir();
    const { newKid } = await rotateKeys(dir, lifecycle(T0));
    chmodSync(join(dir, `${newKid}.json`), 0o644);
    const warnings: string[] = [];
    const logger = { info: () => undefined, error: () => undefined, warn: (_o: object, m: string) => void warnings.push(m) };
    const watcher = await KeyRingWatcher.start(dir, { maxGrantTtlSeconds: MAX_TTL, logger: logger as never, clock: () => T0 });
    watcher.stop();
    expect(warnings).toEqual([expect.stringContaining(`${newKid}.json; chmod 600`)]);
  });

  test('two files with the same kid are refused', async () => {
    const dir = tempKeyDir();
    const { newKid } = await rotateKeys(dir, lifecycle(T0));
    writeFileSync(join(dir, 'copy.json'), readFileSync(join(dir, `${newKid}.json`)));
    await configError(KeyRing.load(dir, lifecycle(T0)), /appears in both/);
  });
});

describe('development key ring', () => {
  test('warns loudly at every start and signs with a different key each time', async () => {
    const logger = recordingLogger();
    const a = await KeyRing.development(logger, { now: T0 });
    const b = await KeyRing.development(logger, { now: T0 });

    expect(logger.warnings).toHaveLength(2);
    for (const w of logger.warnings) expect(w.msg).toContain(DEVELOPMENT_KEY_WARNING);
    expect(a.isDevelopment).toBe(true);
    expect(a.current().kid).not.toBe(b.current().kid);
    // It still signs grants that verify against its own JWKS.
    const grant = await mintAt(a, T0, 'grt_development_1');
    await expect(
      verifyGrant(grant.token, { jwks: a.publicJwks(T0), issuer: ISSUER, audience: 'data-export-runner', now: new Date(T0) }),
    ).resolves.toMatchObject({ jti: 'grt_development_1' });
    expect(JSON.stringify(a.publicJwks(T0))).not.toContain('"d"');
  });
});

function decodeKid(token: string): string {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')).kid;
}

describe('KeyRingWatcher', () => {
  test('a rotation reaches a running replica at its next reload; a broken directory keeps the last good ring', async () => {
    // Setup: a replica watching a key directory with one key.
    const dir = tempKeyDir();
    const first = await rotateKeys(dir, lifecycle(T0));
    let clock = T0;
    const infos: string[] = [];
    const errors: string[] = [];
    const warnings: string[] = [];
    const logger = { info: (_o: object, m: string) => void infos.push(m), error: (_o: object, m: string) => void errors.push(m), warn: (_o: object, m: string) => void warnings.push(m) };
    const watcher = await KeyRingWatcher.start(dir, { maxGrantTtlSeconds: MAX_TTL, logger: logger as never, clock: () => clock });
    try {
      expect(watcher.ring.current().kid).toBe(first.newKid);
      expect(warnings).toEqual([]); // rotate writes 0600

      // Execution: an operator rotates; the replica reloads.
      clock = T0 + 60 * S;
      const second = await rotateKeys(dir, lifecycle(clock));
      expect(await watcher.reload()).toBe(true);

      // Validation: it signs with the new key and still publishes the old one.
      expect(watcher.ring.current().kid).toBe(second.newKid);
      expect(watcher.ring.publicJwks(clock).keys.map((k) => k.kid)).toEqual([second.newKid, first.newKid]);
      expect(infos).toEqual(['signing key changed']);

      writeFileSync(join(dir, 'broken.json'), '{');
      expect(await watcher.reload()).toBe(false);
      expect(watcher.ring.current().kid).toBe(second.newKid);
      expect(errors).toHaveLength(1);
    } finally {
      watcher.stop();
    }
  });
});

describe('rotate and prune hold the key directory lock', () => {
  test('two rotations at once: one runs, the other is refused, and exactly one key signs afterwards', async () => {
    const dir = tempKeyDir();
    await rotateKeys(dir, { now: T0, maxGrantTtlSeconds: 900 });
    const results = await Promise.allSettled([rotateKeys(dir, { now: T0 + 1_000, maxGrantTtlSeconds: 900 }), rotateKeys(dir, { now: T0 + 1_000, maxGrantTtlSeconds: 900 })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(isCountersignError(refused.reason, 'ERR_CONFIG_INVALID')).toBe(true);
    expect(String(refused.reason.message)).toContain('another rotate or prune is working on');
    const keys = readdirSync(dir).filter((n) => n.endsWith('.json')).map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as { retiredAt?: string });
    expect(keys.filter((k) => k.retiredAt === undefined)).toHaveLength(1);
    expect(readdirSync(dir)).not.toContain('.lock');
  });

  test('a key directory that does not exist is named as such, not as a lock someone holds', async () => {
    const missing = join(tempKeyDir(), 'nope');
    const refused = await pruneKeys(missing, { now: T0, maxGrantTtlSeconds: 900 }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(refused?.message).toContain(`cannot write to the key directory ${missing}`);
    expect(refused?.message).not.toContain('another rotate or prune');
  });

  test('a lock left by a run that died over a minute ago is taken over', async () => {
    const dir = tempKeyDir();
    await rotateKeys(dir, { now: T0, maxGrantTtlSeconds: 900 });
    writeFileSync(join(dir, '.lock'), '');
    const { utimesSync } = await import('node:fs');
    utimesSync(join(dir, '.lock'), new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    await expect(rotateKeys(dir, { now: T0 + 1_000, maxGrantTtlSeconds: 900 })).resolves.toMatchObject({ newKid: expect.any(String) });
  });
});
