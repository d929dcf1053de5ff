import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_GRANT_TTL_SECONDS } from '../../src/adapters/credentials/grant-claims.js';
import { rotateKeys } from '../../src/adapters/credentials/key-ring.js';
import { verifyGrant } from '../../src/client/verify-grant.js';
import { example } from '../support/gates.js';
import { createGate, introspect, ISSUER, redeem, servedJwks, startExecutionApp, verifyWithJsonwebtoken, type ExecutionApp } from './execution-fixtures.js';

let t: ExecutionApp;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'countersign-keys-'));
  await rotateKeys(dir, { now: Date.now(), maxGrantTtlSeconds: MAX_GRANT_TTL_SECONDS });
  t = await startExecutionApp({ COUNTERSIGN_KEYS: dir });
});
afterAll(async () => {
  await t.close();
  await rm(dir, { recursive: true, force: true });
});

const AGENT = 'demo-agent';
const EXECUTOR = 'observability-proxy';
const kidOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid as string;

async function grant(n: number): Promise<string> {
  const gate = await createGate(t, AGENT, { ...example('logs-read-only'), summary: `rotation grant ${n}` });
  const answer = await redeem(t, AGENT, gate.id, gate.hash);
  expect(answer.status).toBe(200);
  return answer.body.grant;
}

describe('key rotation over HTTP', () => {
  test('grants signed before a rotation still verify against the served JWKS; new grants carry the new kid', async () => {
    // Setup: a grant signed with the key from COUNTERSIGN_KEYS.
    const before = await grant(1);
    const oldKid = kidOf(before);
    expect((await servedJwks(t)).keys.map((k) => k.kid)).toEqual([oldKid]);

    // Execution: `countersign keys rotate`, then the replica's periodic reload.
    const rotated = await rotateKeys(dir, { now: Date.now(), maxGrantTtlSeconds: MAX_GRANT_TTL_SECONDS });
    expect(rotated.retiredKid).toBe(oldKid);
    expect(await t.app.keyRing.reload()).toBe(true);
    const after = await grant(2);

    // Validation: both keys are served, the current one first; each grant verifies with its own.
    const jwks = await servedJwks(t);
    expect(jwks.keys.map((k) => k.kid)).toEqual([rotated.newKid, oldKid]);
    expect(kidOf(after)).toBe(rotated.newKid);
    for (const token of [before, after]) {
      expect(verifyWithJsonwebtoken(token, jwks, { audience: EXECUTOR }).iss).toBe(ISSUER);
      await expect(verifyGrant(token, { jwksUrl: `${t.app.url}/.well-known/jwks.json`, issuer: ISSUER, audience: EXECUTOR })).resolves.toMatchObject({ aud: EXECUTOR });
      expect((await introspect(t, EXECUTOR, token)).body.active).toBe(true);
    }
  });

  test('once a retired key can sign no live grant, it is no longer served, and its grants are refused', async () => {
    const old = await grant(3);
    const oldKid = kidOf(old);
    await rotateKeys(dir, { now: Date.now(), maxGrantTtlSeconds: MAX_GRANT_TTL_SECONDS });
    await t.app.keyRing.reload();
    // Far beyond the longest grant TTL and the publication margin.
    t.clock.advance((MAX_GRANT_TTL_SECONDS + 3_600) * 1000);
    const jwks = await servedJwks(t);
    expect(jwks.keys.map((k) => k.kid)).not.toContain(oldKid);
    expect((await introspect(t, EXECUTOR, old)).body).toEqual({ active: false, reason: 'unknown_key' });
  });
});
