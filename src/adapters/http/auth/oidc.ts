import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  errors,
  jwtVerify,
  type FetchImplementation,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { CountersignError, ErrorCode } from '../../../core/errors.js';
import type { AgentRegistration } from '../../../core/policy/agents.js';

/**
 * Agents with a workload identity (GitHub Actions, Kubernetes service accounts, cloud
 * metadata servers) send an OIDC JWT as `Authorization: Bearer`. We check it against the
 * registered issuer's JWKS: exact `iss`, `aud`, `exp`/`nbf`, allowed algorithms, and a `sub`
 * that matches the registration's pattern in full.
 */

export type OidcRegistration = AgentRegistration & { auth: Extract<AgentRegistration['auth'], { method: 'oidc' }> };

/** A registration made ready for verification: subject pattern compiled, JWKS location fixed. */
export interface CompiledOidcRegistration {
  registration: OidcRegistration;
  /** The registration's `subject`, anchored at both ends. */
  subject: RegExp;
  jwksUri: string;
}

export interface OidcVerifierOptions {
  /** Epoch milliseconds; the clock against which `exp` and `nbf` are judged. */
  now?: () => number;
  /** Allowed clock skew for `exp`/`nbf`/`iat`, in seconds (default 30). */
  clockToleranceSeconds?: number;
  /** Another fetch for the JWKS (tests, proxies). */
  fetchImpl?: FetchImplementation;
  /** JWKS request timeout in milliseconds (default 5000). */
  jwksTimeoutMs?: number;
}

const COMPACT_JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_TOKEN_LENGTH = 16 * 1024;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

function isOidc(agent: AgentRegistration): agent is OidcRegistration {
  return agent.auth.method === 'oidc';
}

/** How long an issuer's key set is trusted before it is fetched again. */
export const OIDC_JWKS_MAX_AGE_MS = 120_000;

/** Longest `sub` accepted (workload identities are far shorter: `repo:org/name:ref:refs/heads/main`). */
export const MAX_SUBJECT_LENGTH = 256;
/** Oldest OIDC token accepted, by its `iat` (workload tokens live minutes to an hour). */
export const MAX_TOKEN_AGE_SECONDS = 24 * 3600;

/**
 * Compiles one OIDC registration, or throws `ERR_POLICY_INVALID` naming the agent: a subject
 * pattern that is not a valid regular expression, or keys fetched over plain HTTP from
 * anything but loopback, must stop the load rather than fail at the first request.
 */
export function compileOidcRegistration(registration: OidcRegistration): CompiledOidcRegistration {
  const { auth } = registration;
  let subject: RegExp;
  try {
    // Anchored so that `repo:acme/deploy:.*` cannot be satisfied by `evil:repo:acme/deploy:x`.
    subject = new RegExp(`^(?:${auth.subject})$`, 'u');
  } catch (cause) {
    throw new CountersignError(ErrorCode.PolicyInvalid, `agent "${registration.id}": subject is not a valid regular expression`, {
      cause,
      issues: [{ pointer: `/${registration.id}/auth/subject`, message: 'not a valid regular expression' }],
    });
  }
  // OIDC discovery (/.well-known/openid-configuration) is not fetched: the JWKS location is
  // the registration's `jwksUri` or the common `<issuer>/.well-known/jwks.json`.
  const jwksUri = auth.jwksUri ?? `${auth.issuer.replace(/\/+$/, '')}/.well-known/jwks.json`;
  const url = new URL(jwksUri);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) {
    throw new CountersignError(ErrorCode.PolicyInvalid, `agent "${registration.id}": the JWKS must be served over https`, {
      issues: [{ pointer: `/${registration.id}/auth/jwksUri`, message: 'must be an https URL (http only on loopback)' }],
    });
  }
  return { registration, subject, jwksUri: url.toString() };
}

function invalidToken(message: string, reason: string, cause?: unknown): CountersignError {
  return new CountersignError(ErrorCode.InvalidToken, message, { cause, details: { reason } });
}

/** Maps jose's failures to our codes; the messages name the failed check, never the token. */
function fromJoseError(err: unknown): CountersignError {
  if (err instanceof errors.JWTExpired) return invalidToken('token has expired', 'expired', err);
  if (err instanceof errors.JWTClaimValidationFailed) {
    const byClaim: Record<string, string> = {
      aud: 'token audience is not the one registered for this agent',
      iss: 'token issuer is not the one registered for this agent',
      nbf: 'token is not valid yet (nbf)',
      iat: 'token issue time (iat) is invalid',
      sub: 'token subject is missing or invalid',
      exp: 'token has no valid expiry (exp)',
    };
    return invalidToken(byClaim[err.claim] ?? `token claim "${err.claim}" failed its check`, `claim_${err.claim}`, err);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return invalidToken('token algorithm is not allowed for this agent', 'algorithm', err);
  if (err instanceof errors.JWKSNoMatchingKey) return invalidToken("no key in the issuer's JWKS matches the token", 'unknown_key', err);
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalidToken('token signature does not verify', 'signature', err);
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return invalidToken('malformed bearer token', 'malformed', err);
  if (err instanceof errors.JOSENotSupported) return invalidToken('token uses an unsupported algorithm or key', 'unsupported', err);
  // jose's plain JOSEError (no subclass) is what its key fetch throws for a non-200 answer or a
  // body that is not JSON; a TypeError is fetch failing (network, DNS).
  const fetchFailed = err instanceof TypeError || (err instanceof errors.JOSEError && err.code === errors.JOSEError.code);
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || fetchFailed) {
    // The issuer's key endpoint failed: the token is not accepted (fail closed), and not called
    // bad either, since the same token may verify a moment later (503, retryable).
    return new CountersignError(ErrorCode.IssuerUnavailable, "the issuer's keys could not be fetched; try again", { cause: err, details: { reason: 'jwks_unavailable' } });
  }
  return invalidToken('token could not be verified', 'unverified', err);
}

/** Of several failed checks, the one to answer: an issuer that could not be asked comes first (the token may be good). */
function firstOf(failures: CountersignError[]): CountersignError {
  return failures.find((f) => f.code === ErrorCode.IssuerUnavailable) ?? failures[0] ?? invalidToken('token could not be verified', 'unverified');
}

/** Verifies OIDC bearer tokens against the registered agents. One key set per JWKS URL, cached. */
export class OidcVerifier {
  private readonly keySets = new Map<string, JWTVerifyGetKey>();
  private readonly compiled = new WeakMap<OidcRegistration, CompiledOidcRegistration | CountersignError>();
  private readonly now: () => number;
  private readonly clockTolerance: number;

  constructor(private readonly options: OidcVerifierOptions = {}) {
    this.now = options.now ?? Date.now;
    this.clockTolerance = options.clockToleranceSeconds ?? 30;
  }

  /**
   * The compiled form of a registration (cached per registration object). A registration that
   * does not compile is refused: it never matches, so it cannot authenticate anybody.
   */
  compile(registration: OidcRegistration): CompiledOidcRegistration | CountersignError {
    let entry = this.compiled.get(registration);
    if (entry === undefined) {
      try {
        entry = compileOidcRegistration(registration);
      } catch (err) {
        entry = err instanceof CountersignError ? err : new CountersignError(ErrorCode.PolicyInvalid, `agent "${registration.id}": invalid OIDC settings`, { cause: err });
      }
      this.compiled.set(registration, entry);
    }
    return entry;
  }

  private keySet(jwksUri: string): JWTVerifyGetKey {
    let keys = this.keySets.get(jwksUri);
    if (keys === undefined) {
      keys = createRemoteJWKSet(new URL(jwksUri), {
        timeoutDuration: this.options.jwksTimeoutMs ?? 5000,
        // A key the issuer withdraws (a leak) stops verifying within two minutes, not jose's ten;
        // an unknown kid still refetches at once (after the 30 s cooldown).
        cacheMaxAge: OIDC_JWKS_MAX_AGE_MS,
        ...(this.options.fetchImpl ? { [customFetch]: this.options.fetchImpl } : {}),
      });
      this.keySets.set(jwksUri, keys);
    }
    return keys;
  }

  /**
   * The registration this token authenticates. The unverified `iss` and `sub` only choose the
   * candidates (agents with that exact issuer whose subject pattern matches); the token is then
   * fully verified against each candidate's own issuer, audience, algorithms and keys.
   * No candidate → `ERR_UNKNOWN_AGENT`; a failed check → `ERR_INVALID_TOKEN`; the issuer's keys
   * out of reach → `ERR_ISSUER_UNAVAILABLE`. Candidates with `preferRole` are tried first, for a
   * workload registered both as agent and as executor. What the registrations accept (a
   * subject no pattern takes, the agents a subject is ambiguous between) is told only to a
   * token that verifies against the issuer's keys: a forged one learns nothing about them.
   */
  async verify(token: string, agents: Iterable<AgentRegistration>, preferRole?: AgentRegistration['role'], named?: string): Promise<AgentRegistration> {
    if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWT.test(token)) throw invalidToken('malformed bearer token', 'malformed');
    let claims: JWTPayload;
    try {
      claims = decodeJwt(token);
    } catch (cause) {
      throw invalidToken('malformed bearer token', 'malformed', cause);
    }
    if (typeof claims.iss !== 'string') throw invalidToken('token has no issuer (iss)', 'claim_iss');
    if (typeof claims.sub !== 'string') throw invalidToken('token has no subject (sub)', 'claim_sub');
    // The subject is matched before the signature is checked (it chooses the keys): bounded and
    // printable, so that a forged token cannot make a subject pattern backtrack for seconds.
    if (claims.sub.length > MAX_SUBJECT_LENGTH || /[\u0000-\u001f\u007f]/.test(claims.sub)) {
      throw invalidToken(`token subject is longer than ${MAX_SUBJECT_LENGTH} characters or holds control characters`, 'claim_sub');
    }
    const { iss, sub } = claims;

    const sameIssuer: CompiledOidcRegistration[] = [];
    for (const agent of agents) {
      if (!isOidc(agent) || agent.auth.issuer !== iss) continue;
      const compiled = this.compile(agent);
      if (!(compiled instanceof CountersignError)) sameIssuer.push(compiled);
    }
    if (sameIssuer.length === 0) {
      throw new CountersignError(ErrorCode.UnknownAgent, "no agent is registered for this token's issuer", { details: { reason: 'issuer' } });
    }
    let candidates = sameIssuer
      .filter((c) => c.subject.test(sub))
      .sort((a, b) => Number(b.registration.role === preferRole) - Number(a.registration.role === preferRole));
    // Overlapping subject patterns must not make an identity depend on the order of the policy
    // files: `Countersign-Agent` chooses among them, and without it several are ambiguous.
    if (named !== undefined && candidates.some((c) => c.registration.id === named)) {
      candidates = candidates.filter((c) => c.registration.id === named);
    } else if (named === undefined && preferRole !== undefined && candidates.filter((c) => c.registration.role === preferRole).length > 1) {
      const ambiguous = candidates.filter((c) => c.registration.role === preferRole);
      await this.verifiedByAny(token, ambiguous);
      throw new CountersignError(ErrorCode.UnknownAgent, `this token's subject matches several registered ${preferRole}s; send Countersign-Agent to say which`, {
        details: { reason: 'ambiguous', candidates: ambiguous.map((c) => c.registration.id) },
      });
    }
    if (candidates.length === 0) {
      await this.verifiedByAny(token, sameIssuer);
      throw new CountersignError(ErrorCode.UnknownAgent, "no agent registered for this token's issuer accepts its subject", {
        details: { reason: 'subject' },
      });
    }

    const failures: CountersignError[] = [];
    for (const candidate of candidates) {
      try {
        const payload = await this.check(token, candidate);
        if (typeof payload.sub === 'string' && candidate.subject.test(payload.sub)) return candidate.registration;
        failures.push(invalidToken('token subject is missing or invalid', 'claim_sub'));
      } catch (err) {
        failures.push(err as CountersignError);
      }
    }
    throw firstOf(failures);
  }

  /** The token's claims once it verifies against this registration's issuer, audience, algorithms and keys (its subject aside). */
  private async check(token: string, candidate: CompiledOidcRegistration): Promise<JWTPayload> {
    const { auth } = candidate.registration;
    try {
      const { payload } = await jwtVerify(token, this.keySet(candidate.jwksUri), {
        issuer: auth.issuer,
        audience: auth.audience,
        algorithms: [...auth.algorithms],
        clockTolerance: this.clockTolerance,
        currentDate: new Date(this.now()),
        // A bearer token is reusable until it expires: its age is bounded too, and one issued
        // in the future (beyond the clock tolerance) is refused.
        requiredClaims: ['exp', 'sub', 'iat'],
        maxTokenAge: MAX_TOKEN_AGE_SECONDS,
      });
      return payload;
    } catch (err) {
      throw fromJoseError(err);
    }
  }

  /** Returns when the token verifies against any of these registrations; throws the failure otherwise. */
  private async verifiedByAny(token: string, registrations: CompiledOidcRegistration[]): Promise<void> {
    const failures: CountersignError[] = [];
    for (const registration of registrations) {
      try {
        await this.check(token, registration);
        return;
      } catch (err) {
        failures.push(err as CountersignError);
      }
    }
    throw firstOf(failures);
  }
}
