import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FetchImplementation } from 'jose';
import { CountersignError, ErrorCode } from '../../../core/errors.js';
import { AGENT_ID, type AgentRegistration } from '../../../core/policy/agents.js';
import type { ReplayGuard } from '../../redis/replay-guard.js';
import { OidcVerifier } from './oidc.js';
import {
  checkWebhookTimestamp,
  isOutboundMessageId,
  decodeWebhookSecret,
  parseWebhookHeaders,
  WEBHOOK_TOLERANCE_SECONDS,
  webhookSignatureMatches,
} from './standard-webhooks.js';

/** The header that names the agent on the HMAC path. */
export const AGENT_HEADER = 'countersign-agent';

export type AgentSource = () => Iterable<AgentRegistration> | ReadonlyMap<string, AgentRegistration>;

export interface AgentAuthenticatorDeps {
  /** The current registrations (read on every request, so a policy reload takes effect). */
  agents: AgentSource;
  /** Where HMAC secrets are read from (`auth.secretEnv`). */
  env: NodeJS.ProcessEnv;
  replay: ReplayGuard;
  /** Epoch milliseconds. */
  now?: () => number;
  /** Fetch for OIDC JWKS requests. */
  fetchImpl?: FetchImplementation;
}

/** What the authenticator needs from a request: its headers and the exact bytes of its body. */
export interface AuthRequest {
  headers: IncomingHttpHeaders;
  rawBody: Buffer;
}

export interface AuthOptions {
  /**
   * A read to send with the replay check, on the HMAC path: one round trip instead of two. It
   * starts only after the signature verified and only for a sender in the requested role, and
   * its result is for the caller to use once `authenticate` resolved (a replay rejects
   * first). It must not write: a replayed request may have started it.
   */
  alongside?: () => Promise<unknown>;
}

type HmacRegistration = AgentRegistration & { auth: { method: 'hmac'; secretEnv: string } };

/** Why an HMAC agent cannot be authenticated by this server right now. */
export interface SecretProblem {
  agentId: string;
  secretEnv: string;
  problem: 'missing' | 'invalid';
}

/** Signing with this key when the agent cannot be resolved keeps both paths equally slow. */
const DECOY_KEY = randomBytes(32);

function registrations(source: ReturnType<AgentSource>): Iterable<AgentRegistration> {
  const map = source as Partial<ReadonlyMap<string, AgentRegistration>>;
  return typeof map.get === 'function' && typeof map.values === 'function' ? map.values() : (source as Iterable<AgentRegistration>);
}

function secretProblem(agent: HmacRegistration, env: NodeJS.ProcessEnv): SecretProblem['problem'] | Buffer {
  const value = env[agent.auth.secretEnv];
  if (value === undefined || value.trim() === '') return 'missing';
  try {
    return decodeWebhookSecret(value);
  } catch {
    return 'invalid';
  }
}

/**
 * HMAC agents whose secret is missing from (or unusable in) the environment: those agents
 * are refused until it is set. Meant for a start-up warning; it names variables, not values.
 */
export function secretsStatus(agents: ReturnType<AgentSource>, env: NodeJS.ProcessEnv): SecretProblem[] {
  const problems: SecretProblem[] = [];
  for (const agent of registrations(agents)) {
    if (agent.auth.method !== 'hmac') continue;
    const status = secretProblem(agent as HmacRegistration, env);
    if (!Buffer.isBuffer(status)) problems.push({ agentId: agent.id, secretEnv: agent.auth.secretEnv, problem: status });
  }
  return problems;
}

/** One header's value; a header sent twice is ambiguous and counts as malformed. */
function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  let value = headers[name];
  if (value === undefined) {
    const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
    value = key === undefined ? undefined : headers[key];
  }
  if (Array.isArray(value)) {
    if (value.length !== 1) throw new CountersignError(ErrorCode.Unauthenticated, `the ${name} header is sent more than once`);
    return value[0];
  }
  return value;
}

/**
 * Authenticates agents and executors: an OIDC bearer token, or a Standard Webhooks signature
 * with `Countersign-Agent`. All failures are CountersignErrors: `ERR_UNAUTHENTICATED` (nothing
 * or malformed sent, wrong role), `ERR_BAD_SIGNATURE`, `ERR_STALE_TIMESTAMP`,
 * `ERR_REPLAYED_MESSAGE`, `ERR_UNKNOWN_AGENT`, `ERR_INVALID_TOKEN`; `ERR_STORE_UNAVAILABLE`
 * when the replay guard cannot answer.
 */
export class AgentAuthenticator {
  private readonly now: () => number;
  private readonly oidc: OidcVerifier;
  /** Decoded HMAC keys by secret variable, with the text they were decoded from (a changed value is decoded again). */
  private readonly hmacKeys = new Map<string, { text: string; key: Buffer }>();

  constructor(private readonly deps: AgentAuthenticatorDeps) {
    this.now = deps.now ?? Date.now;
    if (deps.replay.ttlSeconds < 2 * WEBHOOK_TOLERANCE_SECONDS + 2) {
      // A message stays acceptable from timestamp − tolerance until just before timestamp + tolerance + 1 s.
      throw new CountersignError(ErrorCode.ConfigInvalid, `the replay window must be at least ${2 * WEBHOOK_TOLERANCE_SECONDS + 2} s`);
    }
    this.oidc = new OidcVerifier({ now: this.now, ...(deps.fetchImpl ? { fetchImpl: deps.fetchImpl } : {}) });
    // Refuse at load what would otherwise fail on the first request.
    for (const agent of registrations(deps.agents())) {
      if (agent.auth.method !== 'oidc') continue;
      const compiled = this.oidc.compile(agent as Parameters<OidcVerifier['compile']>[0]);
      if (compiled instanceof CountersignError) throw compiled;
    }
  }

  /** The registration that sent this request, with the given role (default `agent`). */
  async authenticate(req: AuthRequest, role: 'agent' | 'executor' = 'agent', options: AuthOptions = {}): Promise<AgentRegistration> {
    const authorization = header(req.headers, 'authorization');
    const named = header(req.headers, AGENT_HEADER);
    let agent: AgentRegistration;
    if (authorization !== undefined) {
      const match = /^Bearer +([^ ]+) *$/i.exec(authorization);
      if (!match?.[1]) {
        throw new CountersignError(ErrorCode.Unauthenticated, 'Authorization must be `Bearer <OIDC token>`', {
          details: { reason: 'scheme' },
        });
      }
      agent = await this.oidc.verify(match[1], registrations(this.deps.agents()), role, named);
      if (named !== undefined && named !== agent.id) {
        throw new CountersignError(ErrorCode.Unauthenticated, 'Countersign-Agent names another agent than the token', {
          details: { reason: 'agent_mismatch' },
        });
      }
    } else if (named !== undefined) {
      agent = await this.authenticateHmac(named, req, role, options.alongside);
    } else {
      throw new CountersignError(
        ErrorCode.Unauthenticated,
        'authentication required: send `Authorization: Bearer <OIDC token>`, or `Countersign-Agent` with Standard Webhooks headers',
        { details: { reason: 'missing_credentials' } },
      );
    }
    if (agent.role !== role) {
      throw new CountersignError(ErrorCode.Unauthenticated, `agent "${agent.id}" is not registered as an ${role}`, {
        details: { reason: 'role', agentId: agent.id },
      });
    }
    return agent;
  }

  /**
   * Order matters: syntax and clock first (they need no secret), then the signature, always
   * computed (with a decoy key when the agent cannot be used) so that timing does not tell
   * whether an agent exists, and the replay guard last, so that only a holder of the secret
   * can use up message ids.
   */
  private async authenticateHmac(named: string, req: AuthRequest, role: string, alongside?: () => Promise<unknown>): Promise<AgentRegistration> {
    const parsed = parseWebhookHeaders({
      id: header(req.headers, 'webhook-id'),
      timestamp: header(req.headers, 'webhook-timestamp'),
      signature: header(req.headers, 'webhook-signature'),
    });
    checkWebhookTimestamp(parsed.timestamp, this.now() / 1000);
    if (isOutboundMessageId(parsed.id)) {
      // A callback or revalidation request we signed with this agent's secret, sent back to us.
      throw new CountersignError(ErrorCode.BadSignature, 'webhook-id names a message Countersign sent to the agent, not a request of the agent; sign each request with an id of your own', {
        details: { agentId: named, reason: 'reflected' },
      });
    }

    const resolved = this.resolveHmacAgent(named);
    const matches = webhookSignatureMatches(Buffer.isBuffer(resolved.key) ? resolved.key : DECOY_KEY, parsed, req.rawBody);
    if (resolved.error) throw resolved.error;
    if (!matches || !resolved.agent) {
      throw new CountersignError(
        ErrorCode.BadSignature,
        parsed.v1Signatures.length === 0
          ? 'webhook-signature holds no v1 signature'
          : 'webhook-signature does not match the body, webhook-id and webhook-timestamp',
        { details: { agentId: named } },
      );
    }
    const fresh = this.deps.replay.firstSeen(resolved.agent.id, parsed.id);
    // Sent in the same tick, so the app's connection (connectRedis) carries both in one write.
    // Only for a verified sender in the right role; a replay's read is dropped unused.
    if (alongside && resolved.agent.role === role) {
      try {
        alongside().catch(() => undefined);
      } catch {
        // The caller reads on its own then.
      }
    }
    if (!(await fresh)) {
      throw new CountersignError(ErrorCode.ReplayedMessage, 'this webhook-id was already used; sign each request with a new id', {
        details: { agentId: resolved.agent.id },
      });
    }
    return resolved.agent;
  }

  private resolveHmacAgent(named: string): { agent?: HmacRegistration; key?: Buffer; error?: CountersignError } {
    // Only a well-formed id is repeated in messages and logs: the header is client-controlled.
    if (!AGENT_ID.test(named)) {
      return { error: new CountersignError(ErrorCode.UnknownAgent, 'Countersign-Agent is not a valid agent id', { details: { reason: 'malformed' } }) };
    }
    let agent: AgentRegistration | undefined;
    for (const candidate of registrations(this.deps.agents())) {
      if (candidate.id === named) agent = candidate;
    }
    if (agent === undefined) {
      return { error: new CountersignError(ErrorCode.UnknownAgent, `agent "${named}" is not registered`, { details: { agentId: named } }) };
    }
    if (agent.auth.method !== 'hmac') {
      return {
        error: new CountersignError(ErrorCode.Unauthenticated, `agent "${named}" authenticates with an OIDC token, not a signature`, {
          details: { reason: 'method', agentId: named },
        }),
      };
    }
    const secretEnv = (agent as HmacRegistration).auth.secretEnv;
    const text = this.deps.env[secretEnv];
    const known = this.hmacKeys.get(secretEnv);
    if (known && known.text === text) return { agent: agent as HmacRegistration, key: known.key };
    const status = secretProblem(agent as HmacRegistration, this.deps.env);
    if (!Buffer.isBuffer(status)) {
      // Fail closed, and say so without naming the variable or anything about its value.
      return {
        error: new CountersignError(ErrorCode.Unauthenticated, `agent "${named}" has no usable signing secret configured on the server`, {
          details: { reason: status === 'missing' ? 'secret_missing' : 'secret_invalid', agentId: named },
        }),
      };
    }
    this.hmacKeys.set(secretEnv, { text: text!, key: status });
    return { agent: agent as HmacRegistration, key: status };
  }
}
