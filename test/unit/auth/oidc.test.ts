import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { JWTPayload } from 'jose';
import { compileOidcRegistration, OidcVerifier, type OidcRegistration } from '../../../src/adapters/http/auth/oidc.js';
import { ErrorCode, isCountersignError, type CountersignError } from '../../../src/core/errors.js';
import { AgentRegistration } from '../../../src/core/policy/agents.js';
import { startLocalIssuer, type LocalIssuer } from './oidc-fixture.js';
import { failure } from '../../support/errors.js';

const NOW_MS = 1_790_000_000_000; // frozen clock
const NOW = NOW_MS / 1000;
const AUDIENCE = 'countersign';
const SUBJECT = 'repo:acme/deploy:ref:refs/heads/main';

function oidcAgent(id: string, issuer: string, auth: Partial<OidcRegistration['auth']> = {}): OidcRegistration {
  return AgentRegistration.parse({
    id,
    owner: 'platform@acme.example',
    auth: { method: 'oidc', issuer, audience: AUDIENCE, subject: 'repo:acme/deploy:ref:refs/heads/main', algorithms: ['ES256'], ...auth },
  }) as OidcRegistration;
}

describe('OidcVerifier against a local issuer', () => {
  let issuer: LocalIssuer;
  let verifier: OidcVerifier;
  let agents: OidcRegistration[];
  let claims: (over?: JWTPayload) => JWTPayload;

  beforeAll(async () => {
    issuer = await startLocalIssuer();
    verifier = new OidcVerifier({ now: () => NOW_MS });
    agents = [
      oidcAgent('ci-deployer', issuer.issuer),
      oidcAgent('ci-reporter', issuer.issuer, { subject: 'repo:acme/reports:.*', audience: 'countersign-reports' }),
    ];
    claims = (over = {}) => ({ iss: issuer.issuer, aud: AUDIENCE, sub: SUBJECT, iat: NOW - 10, exp: NOW + 300, ...over });
  });
  afterAll(async () => {
    await issuer.close();
  });

  test('a valid token authenticates the agent whose subject matches', async () => {
    const token = await issuer.sign(claims());
    expect((await verifier.verify(token, agents)).id).toBe('ci-deployer');
  });

  test('several agents with one issuer: the subject chooses', async () => {
    const token = await issuer.sign(claims({ sub: 'repo:acme/reports:ref:refs/heads/main', aud: 'countersign-reports' }));
    expect((await verifier.verify(token, agents)).id).toBe('ci-reporter');
  });

  test('the JWKS is fetched once and cached for later tokens', async () => {
    const fresh = new OidcVerifier({ now: () => NOW_MS });
    const before = issuer.jwksFetches();
    for (let i = 0; i < 5; i += 1) await fresh.verify(await issuer.sign(claims({ jti: `t${i}` })), agents);
    expect(issuer.jwksFetches() - before).toBe(1);
  });

  test('the cached JWKS is fetched again after two minutes, so a key the issuer withdrew stops verifying then', async () => {
    // Only Date is faked: jose measures the cache age with Date.now().
    jest.useFakeTimers({ doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'requestAnimationFrame', 'cancelAnimationFrame', 'requestIdleCallback', 'cancelIdleCallback', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
    try {
      const start = Date.now();
      const fresh = new OidcVerifier({ now: () => NOW_MS });
      const before = issuer.jwksFetches();
      await fresh.verify(await issuer.sign(claims({ jti: 'a' })), agents);
      jest.setSystemTime(start + 60_000);
      await fresh.verify(await issuer.sign(claims({ jti: 'b' })), agents);
      expect(issuer.jwksFetches() - before).toBe(1);
      jest.setSystemTime(start + 121_000);
      await fresh.verify(await issuer.sign(claims({ jti: 'c' })), agents);
      expect(issuer.jwksFetches() - before).toBe(2);
    } finally {
      jest.useRealTimers();
    }
  });

  test('wrong audience is an invalid token', async () => {
    const err = await failure(verifier.verify(await issuer.sign(claims({ aud: 'someone-else' })), agents));
    expect(err.code).toBe(ErrorCode.InvalidToken);
    expect(err.message).toBe('token audience is not the one registered for this agent');
  });

  test('an issuer nobody registered is an unknown agent, even one trailing slash away', async () => {
    for (const iss of ['https://token.evil.example', `${issuer.issuer}/`]) {
      const err = await failure(verifier.verify(await issuer.sign(claims({ iss })), agents));
      expect(err.code).toBe(ErrorCode.UnknownAgent);
      expect(err.details.reason).toBe('issuer');
    }
  });

  test('expired beyond the 30 s tolerance is refused; within it, accepted', async () => {
    await expect(verifier.verify(await issuer.sign(claims({ exp: NOW - 20 })), agents)).resolves.toMatchObject({ id: 'ci-deployer' });
    const err = await failure(verifier.verify(await issuer.sign(claims({ exp: NOW - 31 })), agents));
    expect(err.code).toBe(ErrorCode.InvalidToken);
    expect(err.message).toBe('token has expired');
  });

  test('not yet valid (nbf) beyond the tolerance is refused', async () => {
    const err = await failure(verifier.verify(await issuer.sign(claims({ nbf: NOW + 60 })), agents));
    expect(err.code).toBe(ErrorCode.InvalidToken);
    expect(err.message).toBe('token is not valid yet (nbf)');
  });

  test('a token without exp is refused', async () => {
    const { exp: _omitted, ...noExpiry } = claims();
    const err = await failure(verifier.verify(await issuer.sign(noExpiry), agents));
    expect(err.code).toBe(ErrorCode.InvalidToken);
  });

  test('a subject that matches no pattern in full is an unknown agent', async () => {
    // The pattern is anchored: a prefix or a suffix around an allowed subject is not enough.
    for (const sub of ['repo:acme/deploy:ref:refs/heads/feature', `evil:${SUBJECT}`, `${SUBJECT}x`]) {
      const err = await failure(verifier.verify(await issuer.sign(claims({ sub })), agents));
      expect(err.code).toBe(ErrorCode.UnknownAgent);
      expect(err.details.reason).toBe('subject');
    }
  });

  test('an algorithm outside the allow-list is refused (RS256 key from the JWKS, only ES256 allowed)', async () => {
    const token = await issuer.sign(claims(), { key: 'rs256' });
    const err = await failure(verifier.verify(token, agents));
    expect(err.code).toBe(ErrorCode.InvalidToken);
    expect(err.message).toBe('token algorithm is not allowed for this agent');
    // The same token passes for a registration that allows RS256: the key itself is fine.
    const rsAllowed = [oidcAgent('ci-deployer', issuer.issuer, { algorithms: ['RS256'] })];
    expect((await verifier.verify(token, rsAllowed)).id).toBe('ci-deployer');
  });

  test('a key that is not in the JWKS is refused', async () => {
    const err = await failure(verifier.verify(await issuer.sign(claims(), { key: 'unpublished' }), agents));
    expect(err.code).toBe(ErrorCode.InvalidToken);
    expect(err.details.reason).toBe('unknown_key');
  });

  test('a foreign key claiming a published kid fails the signature check', async () => {
    const err = await failure(verifier.verify(await issuer.sign(claims(), { key: 'unpublished-as-es256' }), agents));
    expect(err.code).toBe(ErrorCode.InvalidToken);
    expect(err.message).toBe('token signature does not verify');
  });

  test('malformed tokens are refused before any key lookup', async () => {
    for (const token of ['not-a-jwt', 'a.b', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', '!!.!!.!!']) {
      const err = await failure(verifier.verify(token, agents));
      expect(err.code).toBe(ErrorCode.InvalidToken);
    }
  });

  test('an unreachable JWKS fails closed, as a retryable outage rather than a bad token', async () => {
    const offline = new OidcVerifier({ now: () => NOW_MS, fetchImpl: () => Promise.reject(new TypeError('fetch failed')) });
    const err = await failure(offline.verify(await issuer.sign(claims()), agents));
    expect(err.code).toBe(ErrorCode.IssuerUnavailable);
    expect(err.details.reason).toBe('jwks_unavailable');
  });

  test('a JWKS endpoint that answers an error status or no JSON is an outage too', async () => {
    for (const answer of [new Response('busy', { status: 503 }), new Response('<html>', { status: 200, headers: { 'content-type': 'text/html' } })]) {
      const broken = new OidcVerifier({ now: () => NOW_MS, fetchImpl: () => Promise.resolve(answer) });
      const err = await failure(broken.verify(await issuer.sign(claims()), agents));
      expect(err.code).toBe(ErrorCode.IssuerUnavailable);
    }
  });

  test('a forged token learns nothing about the subjects registered: it is an invalid token, not an unknown subject', async () => {
    // The same subject, signed with the issuer's key, is told that no registration takes it.
    const sub = 'repo:acme/unknown:ref:refs/heads/main';
    expect(await failure(verifier.verify(await issuer.sign(claims({ sub })), agents))).toMatchObject({ code: ErrorCode.UnknownAgent, details: { reason: 'subject' } });
    const err = await failure(verifier.verify(await issuer.sign(claims({ sub }), { key: 'unpublished' }), agents));
    expect(err.code).toBe(ErrorCode.InvalidToken);
    expect(err.details.reason).toBe('unknown_key');
  });
});

describe('compileOidcRegistration', () => {
  test('refuses a subject pattern that does not compile', () => {
    let err: unknown;
    try {
      compileOidcRegistration(oidcAgent('ci-broken', 'https://issuer.example', { subject: 'repo:(acme' }));
    } catch (e) {
      err = e;
    }
    expect(isCountersignError(err, ErrorCode.PolicyInvalid)).toBe(true);
    expect((err as CountersignError).message).toContain('ci-broken');
  });

  test('refuses a JWKS over plain http except on loopback', () => {
    expect(() => compileOidcRegistration(oidcAgent('ci-plain', 'http://issuer.example'))).toThrow('https');
    expect(compileOidcRegistration(oidcAgent('ci-local', 'http://127.0.0.1:8080/')).jwksUri).toBe('http://127.0.0.1:8080/.well-known/jwks.json');
  });

  test('uses the registered jwksUri when there is one', () => {
    const compiled = compileOidcRegistration(
      oidcAgent('ci-gh', 'https://token.actions.githubusercontent.com', { jwksUri: 'https://token.actions.githubusercontent.com/.well-known/jwks' }),
    );
    expect(compiled.jwksUri).toBe('https://token.actions.githubusercontent.com/.well-known/jwks');
  });
});
