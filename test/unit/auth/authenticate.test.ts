import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { IncomingHttpHeaders } from 'node:http';
import type { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { AgentAuthenticator, secretsStatus } from '../../../src/adapters/http/auth/authenticate.js';
import { generateWebhookSecret, webhookHeaders } from '../../../src/adapters/http/auth/standard-webhooks.js';
import { ReplayGuard } from '../../../src/adapters/redis/replay-guard.js';
import { ErrorCode } from '../../../src/core/errors.js';
import { AgentRegistration } from '../../../src/core/policy/agents.js';
import { freshRedis } from '../../support/redis.js';
import { startLocalIssuer, type LocalIssuer } from './oidc-fixture.js';
import { failure } from '../../support/errors.js';

const NOW_MS = 1_790_000_000_000; // frozen clock
const NOW = NOW_MS / 1000;
const BODY = Buffer.from('{"action":"k8s.deploy","environment":"staging"}');
const DEPLOY_SECRET = generateWebhookSecret();
const EXECUTOR_SECRET = generateWebhookSecret();

function hmacAgent(id: string, secretEnv: string, role: 'agent' | 'executor' = 'agent'): AgentRegistration {
  return AgentRegistration.parse({ id, role, owner: 'platform@acme.example', auth: { method: 'hmac', secretEnv } });
}

describe('AgentAuthenticator', () => {
  let redis: Redis;
  let issuer: LocalIssuer;
  let agents: AgentRegistration[];
  let auth: AgentAuthenticator;
  const env: NodeJS.ProcessEnv = { DEPLOY_BOT_SECRET: DEPLOY_SECRET, RUNNER_SECRET: EXECUTOR_SECRET };

  /** A request signed as `agentId` with `secret`, at the frozen time unless told otherwise. */
  function hmacRequest(agentId: string, secret: string, opts: { id?: string; now?: number; body?: Buffer } = {}) {
    const headers: IncomingHttpHeaders = {
      'countersign-agent': agentId,
      ...webhookHeaders(secret, opts.body ?? BODY, { now: opts.now ?? NOW_MS, ...(opts.id ? { id: opts.id } : {}) }),
    };
    return { headers, rawBody: BODY };
  }

  beforeAll(async () => {
    redis = await freshRedis();
    issuer = await startLocalIssuer();
    agents = [
      hmacAgent('deploy-bot', 'DEPLOY_BOT_SECRET'),
      hmacAgent('grant-runner', 'RUNNER_SECRET', 'executor'),
      hmacAgent('orphan-bot', 'ORPHAN_BOT_SECRET'),
      AgentRegistration.parse({
        id: 'ci-deployer',
        owner: 'platform@acme.example',
        auth: { method: 'oidc', issuer: issuer.issuer, audience: 'countersign', subject: 'repo:acme/deploy:.*', algorithms: ['ES256'] },
      }),
    ];
    auth = new AgentAuthenticator({ agents: () => agents, env, replay: new ReplayGuard(redis), now: () => NOW_MS });
  });
  afterAll(async () => {
    await redis.quit();
    await issuer.close();
  });

  describe('Standard Webhooks HMAC', () => {
    test('a correctly signed request authenticates its agent', async () => {
      expect((await auth.authenticate(hmacRequest('deploy-bot', DEPLOY_SECRET))).id).toBe('deploy-bot');
    });

    test('a request signed by the reference library authenticates', async () => {
      const signature = new Webhook(DEPLOY_SECRET).sign('msg_ref_lib', new Date(NOW_MS), BODY);
      const headers = { 'countersign-agent': 'deploy-bot', 'webhook-id': 'msg_ref_lib', 'webhook-timestamp': String(NOW), 'webhook-signature': signature };
      expect((await auth.authenticate({ headers, rawBody: BODY })).id).toBe('deploy-bot');
    });

    test('a replayed webhook-id is refused; the same id from another agent is not a replay', async () => {
      // Setup: one signed request, delivered twice.
      const request = hmacRequest('deploy-bot', DEPLOY_SECRET, { id: 'msg_once' });
      await auth.authenticate(request);
      // Execution / Validation
      const err = await failure(auth.authenticate(request));
      expect(err.code).toBe(ErrorCode.ReplayedMessage);
      // Even re-signed with a fresh timestamp, the id stays used.
      expect((await failure(auth.authenticate(hmacRequest('deploy-bot', DEPLOY_SECRET, { id: 'msg_once', now: NOW_MS + 60_000 })))).code).toBe(
        ErrorCode.ReplayedMessage,
      );
      const other = hmacRequest('grant-runner', EXECUTOR_SECRET, { id: 'msg_once' });
      expect((await auth.authenticate(other, 'executor')).id).toBe('grant-runner');
    });

    test('a read sent alongside the replay check starts only for a verified sender in its role, and a replay still fails', async () => {
      // Setup: a read that records when it starts.
      const started: string[] = [];
      const alongside = (label: string) => ({ alongside: async () => void started.push(label) });

      // Execution
      const request = hmacRequest('deploy-bot', DEPLOY_SECRET, { id: 'msg_alongside' });
      expect((await auth.authenticate(request, 'agent', alongside('first'))).id).toBe('deploy-bot');
      const replay = await failure(auth.authenticate(request, 'agent', alongside('replay')));
      const forged = await failure(auth.authenticate(hmacRequest('deploy-bot', generateWebhookSecret()), 'agent', alongside('forged')));
      const wrongRole = await failure(auth.authenticate(hmacRequest('grant-runner', EXECUTOR_SECRET), 'agent', alongside('executor')));
      const throwing = { alongside: (): Promise<unknown> => { throw new Error('no such gate'); } };
      const survived = await auth.authenticate(hmacRequest('deploy-bot', DEPLOY_SECRET), 'agent', throwing);

      // Validation: a replay may start its read (sent before the guard answers), but is refused;
      // no read for a bad signature or the wrong role; a read that throws does not fail authentication.
      expect(started).toEqual(['first', 'replay']);
      expect(replay.code).toBe(ErrorCode.ReplayedMessage);
      expect(forged.code).toBe(ErrorCode.BadSignature);
      expect(wrongRole.code).toBe(ErrorCode.Unauthenticated);
      expect(survived.id).toBe('deploy-bot');
    });

    test('a forged request does not use up the id it names', async () => {
      // Setup: an attacker without the secret sends the id the agent will use next.
      const forged = hmacRequest('deploy-bot', generateWebhookSecret(), { id: 'msg_next' });
      expect((await failure(auth.authenticate(forged))).code).toBe(ErrorCode.BadSignature);
      // Validation: the real agent's request with that id still goes through.
      expect((await auth.authenticate(hmacRequest('deploy-bot', DEPLOY_SECRET, { id: 'msg_next' }))).id).toBe('deploy-bot');
    });

    test('a body changed after signing is a bad signature', async () => {
      const request = hmacRequest('deploy-bot', DEPLOY_SECRET);
      const err = await failure(auth.authenticate({ ...request, rawBody: Buffer.from('{"action":"k8s.deploy","environment":"prod"}') }));
      expect(err.code).toBe(ErrorCode.BadSignature);
    });

    test('a request signed with another agent\'s secret is a bad signature', async () => {
      expect((await failure(auth.authenticate(hmacRequest('deploy-bot', EXECUTOR_SECRET)))).code).toBe(ErrorCode.BadSignature);
    });

    test('timestamps more than 5 minutes old or ahead are refused', async () => {
      const old = await failure(auth.authenticate(hmacRequest('deploy-bot', DEPLOY_SECRET, { now: NOW_MS - 301_000 })));
      expect(old.code).toBe(ErrorCode.StaleTimestamp);
      const ahead = await failure(auth.authenticate(hmacRequest('deploy-bot', DEPLOY_SECRET, { now: NOW_MS + 301_000 })));
      expect(ahead.code).toBe(ErrorCode.StaleTimestamp);
    });

    test('missing or malformed webhook headers are unauthenticated', async () => {
      const { headers } = hmacRequest('deploy-bot', DEPLOY_SECRET);
      const { 'webhook-signature': _dropped, ...unsigned } = headers;
      expect((await failure(auth.authenticate({ headers: unsigned, rawBody: BODY }))).message).toBe('missing webhook-signature header');
      const garbled = await failure(auth.authenticate({ headers: { ...headers, 'webhook-timestamp': 'yesterday' }, rawBody: BODY }));
      expect(garbled.code).toBe(ErrorCode.Unauthenticated);
    });

    test('an unknown agent is refused as such, and a malformed name is not echoed', async () => {
      const unknown = await failure(auth.authenticate(hmacRequest('ghost-bot', DEPLOY_SECRET)));
      expect(unknown.code).toBe(ErrorCode.UnknownAgent);
      expect(unknown.message).toBe('agent "ghost-bot" is not registered');
      const hostile = await failure(auth.authenticate(hmacRequest('<script>\nlog-forging', DEPLOY_SECRET)));
      expect(hostile.code).toBe(ErrorCode.UnknownAgent);
      expect(hostile.message).not.toContain('script');
    });

    test('an agent whose secret variable is unset is refused (fail closed), naming neither variable nor value', async () => {
      // Setup: orphan-bot is registered, but ORPHAN_BOT_SECRET is not in the environment.
      const err = await failure(auth.authenticate(hmacRequest('orphan-bot', generateWebhookSecret())));
      // Validation
      expect(err.code).toBe(ErrorCode.Unauthenticated);
      expect(err.details.reason).toBe('secret_missing');
      expect(err.message).toBe('agent "orphan-bot" has no usable signing secret configured on the server');
      expect(JSON.stringify({ m: err.message, d: err.details })).not.toContain('ORPHAN_BOT_SECRET');
    });

    test('a secret changed or removed in the environment takes effect on the next request', async () => {
      // Setup: orphan-bot gets a secret and authenticates once (its decoded key is remembered).
      const first = generateWebhookSecret();
      const second = generateWebhookSecret();
      env.ORPHAN_BOT_SECRET = first;
      try {
        expect((await auth.authenticate(hmacRequest('orphan-bot', first))).id).toBe('orphan-bot');

        // Execution + validation: after a rotation the old secret is refused and the new one works.
        env.ORPHAN_BOT_SECRET = second;
        expect((await failure(auth.authenticate(hmacRequest('orphan-bot', first)))).code).toBe(ErrorCode.BadSignature);
        expect((await auth.authenticate(hmacRequest('orphan-bot', second))).id).toBe('orphan-bot');

        // Removed: refused again, fail closed.
        delete env.ORPHAN_BOT_SECRET;
        expect((await failure(auth.authenticate(hmacRequest('orphan-bot', second)))).details.reason).toBe('secret_missing');
      } finally {
        delete env.ORPHAN_BOT_SECRET;
      }
    });

    test('an executor cannot call agent routes, nor an agent executor routes', async () => {
      const asAgent = await failure(auth.authenticate(hmacRequest('grant-runner', EXECUTOR_SECRET)));
      expect(asAgent.code).toBe(ErrorCode.Unauthenticated);
      expect(asAgent.details.reason).toBe('role');
      const asExecutor = await failure(auth.authenticate(hmacRequest('deploy-bot', DEPLOY_SECRET), 'executor'));
      expect(asExecutor.code).toBe(ErrorCode.Unauthenticated);
    });

    test('an OIDC agent cannot authenticate with a signature', async () => {
      const err = await failure(auth.authenticate(hmacRequest('ci-deployer', DEPLOY_SECRET)));
      expect(err.code).toBe(ErrorCode.Unauthenticated);
      expect(err.details.reason).toBe('method');
    });

    test('no credentials at all is unauthenticated', async () => {
      const err = await failure(auth.authenticate({ headers: { 'content-type': 'application/json' }, rawBody: BODY }));
      expect(err.code).toBe(ErrorCode.Unauthenticated);
      expect(err.details.reason).toBe('missing_credentials');
    });

    test('registrations are read on every request (a reload takes effect)', async () => {
      const live = [hmacAgent('deploy-bot', 'DEPLOY_BOT_SECRET')];
      const reloading = new AgentAuthenticator({ agents: () => new Map(live.map((a) => [a.id, a])), env, replay: new ReplayGuard(redis), now: () => NOW_MS });
      expect((await reloading.authenticate(hmacRequest('deploy-bot', DEPLOY_SECRET))).id).toBe('deploy-bot');
      live.pop();
      expect((await failure(reloading.authenticate(hmacRequest('deploy-bot', DEPLOY_SECRET)))).code).toBe(ErrorCode.UnknownAgent);
    });
  });

  describe('OIDC bearer', () => {
    const claims = () => ({ iss: issuer.issuer, aud: 'countersign', sub: 'repo:acme/deploy:ref:refs/heads/main', exp: NOW + 300, iat: NOW });

    test('a valid token authenticates; the token may be reused until it expires', async () => {
      const headers = { authorization: `Bearer ${await issuer.sign(claims())}` };
      expect((await auth.authenticate({ headers, rawBody: BODY })).id).toBe('ci-deployer');
      expect((await auth.authenticate({ headers, rawBody: BODY })).id).toBe('ci-deployer');
    });

    test('wrong audience, wrong issuer and expired tokens are refused', async () => {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ aud: 'another-service' }, ErrorCode.InvalidToken],
        [{ iss: 'https://issuer.evil.example' }, ErrorCode.UnknownAgent],
        [{ exp: NOW - 60 }, ErrorCode.InvalidToken],
      ];
      for (const [over, code] of cases) {
        const headers = { authorization: `Bearer ${await issuer.sign({ ...claims(), ...over })}` };
        expect((await failure(auth.authenticate({ headers, rawBody: BODY }))).code).toBe(code);
      }
    });

    test('a Countersign-Agent header that names someone else is refused', async () => {
      const headers = { authorization: `Bearer ${await issuer.sign(claims())}`, 'countersign-agent': 'deploy-bot' };
      expect((await failure(auth.authenticate({ headers, rawBody: BODY }))).details.reason).toBe('agent_mismatch');
    });

    test('another Authorization scheme is refused', async () => {
      const err = await failure(auth.authenticate({ headers: { authorization: 'Basic ZGVwbG95OmJvdA==' }, rawBody: BODY }));
      expect(err.code).toBe(ErrorCode.Unauthenticated);
      expect(err.details.reason).toBe('scheme');
    });
  });

  describe('configuration', () => {
    test('a registration whose subject pattern does not compile stops the start', () => {
      const broken = AgentRegistration.parse({
        id: 'ci-broken',
        owner: 'platform@acme.example',
        auth: { method: 'oidc', issuer: 'https://issuer.example', audience: 'countersign', subject: '(unclosed' },
      });
      expect(() => new AgentAuthenticator({ agents: () => [broken], env, replay: new ReplayGuard(redis) })).toThrow('ci-broken');
    });

    test('a replay window shorter than twice the tolerance is refused', () => {
      expect(() => new AgentAuthenticator({ agents: () => [], env, replay: new ReplayGuard(redis, 300) })).toThrow('602');
    });

    test('secretsStatus lists HMAC agents whose secret is missing or unusable, without values', () => {
      const status = secretsStatus(agents, { ...env, RUNNER_SECRET: 'whsec_tooshort' });
      expect(status).toEqual([
        { agentId: 'grant-runner', secretEnv: 'RUNNER_SECRET', problem: 'invalid' },
        { agentId: 'orphan-bot', secretEnv: 'ORPHAN_BOT_SECRET', problem: 'missing' },
      ]);
    });
  });
});
