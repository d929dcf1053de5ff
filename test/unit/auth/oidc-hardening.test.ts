import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Redis } from 'ioredis';
import { AgentAuthenticator } from '../../../src/adapters/http/auth/authenticate.js';
import { OidcVerifier, type OidcRegistration } from '../../../src/adapters/http/auth/oidc.js';
import { ReplayGuard } from '../../../src/adapters/redis/replay-guard.js';
import { AgentRegistration } from '../../../src/core/policy/agents.js';
import { freshRedis } from '../../support/redis.js';
import { failure } from '../../support/errors.js';
import { startLocalIssuer, type LocalIssuer } from './oidc-fixture.js';

const NOW_MS = 1_790_000_000_000;
const NOW = NOW_MS / 1000;
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

function oidcAgent(id: string, issuer: string, subject: string, role: 'agent' | 'executor' = 'agent'): OidcRegistration {
  return AgentRegistration.parse({ id, role, owner: 'platform@acme.example', auth: { method: 'oidc', issuer, audience: 'countersign', subject, algorithms: ['ES256'] } }) as OidcRegistration;
}

describe('OIDC agents, hardened', () => {
  let issuer: LocalIssuer;
  let redis: Redis;
  beforeAll(async () => {
    issuer = await startLocalIssuer();
    redis = await freshRedis();
  });
  afterAll(async () => {
    await issuer.close();
    await redis.quit();
  });

  test('a forged token with a long or odd subject is refused before any pattern runs (no backtracking for seconds)', async () => {
    const verifier = new OidcVerifier({ now: () => NOW_MS });
    const agents = [oidcAgent('any-repo', issuer.issuer, 'repo:acme/.*:.*:.*')];
    const forged = (sub: string) => `${b64({ alg: 'ES256', kid: 'x' })}.${b64({ iss: issuer.issuer, sub })}.AAAA`;
    for (const sub of [`repo:acme/${':'.repeat(2_500)}x`, `repo:acme/deploy:x\n`]) {
      const err = await failure(verifier.verify(forged(sub), agents));
      expect(err).toMatchObject({ code: 'ERR_INVALID_TOKEN', details: { reason: 'claim_sub' } });
    }
    expect(issuer.jwksFetches()).toBe(0);
  });

  test('a token issued in the future, without iat, or older than a day is refused', async () => {
    const verifier = new OidcVerifier({ now: () => NOW_MS, clockToleranceSeconds: 30 });
    const agents = [oidcAgent('ci', issuer.issuer, 'repo:acme/deploy:.*')];
    const claims = { iss: issuer.issuer, aud: 'countersign', sub: 'repo:acme/deploy:x' };
    for (const extra of [{ iat: NOW + 86_400, exp: NOW + 365 * 86_400 }, { exp: NOW + 365 * 86_400 }, { iat: NOW - 2 * 86_400, exp: NOW + 86_400 }]) {
      await expect(verifier.verify(await issuer.sign({ ...claims, ...extra }), agents)).rejects.toMatchObject({ code: 'ERR_INVALID_TOKEN' });
    }
    expect((await verifier.verify(await issuer.sign({ ...claims, iat: NOW - 60, exp: NOW + 300 }), agents)).id).toBe('ci');
  });

  test('overlapping subject patterns: Countersign-Agent chooses, and without it the token is ambiguous', async () => {
    const agents = [oidcAgent('acme-readonly', issuer.issuer, 'repo:acme/.*'), oidcAgent('acme-deployer', issuer.issuer, 'repo:acme/deploy:ref:refs/heads/main')];
    const token = await issuer.sign({ iss: issuer.issuer, aud: 'countersign', sub: 'repo:acme/deploy:ref:refs/heads/main', iat: NOW, exp: NOW + 300 });
    const rawBody = Buffer.from('{}');
    for (const order of [agents, [...agents].reverse()]) {
      const auth = new AgentAuthenticator({ agents: () => order, env: {}, replay: new ReplayGuard(redis), now: () => NOW_MS });
      expect((await auth.authenticate({ headers: { authorization: `Bearer ${token}`, 'countersign-agent': 'acme-deployer' }, rawBody })).id).toBe('acme-deployer');
      expect((await auth.authenticate({ headers: { authorization: `Bearer ${token}`, 'countersign-agent': 'acme-readonly' }, rawBody })).id).toBe('acme-readonly');
      const err = await failure(auth.authenticate({ headers: { authorization: `Bearer ${token}` }, rawBody }));
      expect(err).toMatchObject({ code: 'ERR_UNKNOWN_AGENT', details: { reason: 'ambiguous', candidates: expect.arrayContaining(['acme-readonly', 'acme-deployer']) } });
    }
  });

  test('a forged token with an ambiguous subject is refused as invalid, naming no registered agent', async () => {
    const agents = [oidcAgent('acme-readonly', issuer.issuer, 'repo:acme/.*'), oidcAgent('acme-deployer', issuer.issuer, 'repo:acme/deploy:ref:refs/heads/main')];
    const forged = await issuer.sign({ iss: issuer.issuer, aud: 'countersign', sub: 'repo:acme/deploy:ref:refs/heads/main', iat: NOW, exp: NOW + 300 }, { key: 'unpublished' });
    const auth = new AgentAuthenticator({ agents: () => agents, env: {}, replay: new ReplayGuard(redis), now: () => NOW_MS });
    const err = await failure(auth.authenticate({ headers: { authorization: `Bearer ${forged}` }, rawBody: Buffer.from('{}') }));
    expect(err.code).toBe('ERR_INVALID_TOKEN');
    expect(JSON.stringify(err.details)).not.toMatch(/acme-readonly|acme-deployer/);
  });
});
