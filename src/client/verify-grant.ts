import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import { GRANT_ALG, GRANT_TYP, GrantClaimsSchema, MAX_GRANT_TTL_SECONDS, type GrantClaims, type GrantResource } from '../adapters/credentials/grant-claims.js';

export { GRANT_TYP, type GrantClaims, type GrantResource } from '../adapters/credentials/grant-claims.js';

/**
 * The grant verifier that executors import. It needs nothing but the service's JWKS: no Redis,
 * no Slack, no network beyond that one URL. It proves that a grant is genuine, meant for this
 * executor, current, and for exactly the action about to run. It does not consume the grant:
 * call `POST /v1/grants/introspect` for that, once, just before acting.
 */

/** Why a grant was refused. Stable: switch on it, do not parse messages. */
export const GrantErrorCode = {
  /** Not a compact JWS, a missing `kid`, or claims that do not have the grant's shape. */
  Malformed: 'ERR_GRANT_MALFORMED',
  /** The signature does not match the header and payload (tampered, or a look-alike key). */
  InvalidSignature: 'ERR_GRANT_INVALID_SIGNATURE',
  /** Signed with a key the JWKS does not publish (unknown, or retired long ago). */
  UnknownKey: 'ERR_GRANT_UNKNOWN_KEY',
  /** Any `alg` but ES256, including `none` and HMAC. */
  Algorithm: 'ERR_GRANT_ALGORITHM',
  /** Header `typ` is not `countersign-grant+jwt`: another kind of token from the same issuer. */
  Type: 'ERR_GRANT_TYPE',
  Issuer: 'ERR_GRANT_ISSUER',
  /** The grant is for another executor. */
  Audience: 'ERR_GRANT_AUDIENCE',
  Expired: 'ERR_GRANT_EXPIRED',
  NotYetValid: 'ERR_GRANT_NOT_YET_VALID',
  /** Genuine, but for another action, environment, resource set, evidence or permission. */
  Mismatch: 'ERR_GRANT_MISMATCH',
  /** The JWKS could not be fetched or parsed: retry later, do not act. */
  JwksUnavailable: 'ERR_GRANT_JWKS_UNAVAILABLE',
} as const;
export type GrantErrorCode = (typeof GrantErrorCode)[keyof typeof GrantErrorCode];

/** A refused grant. `details.field` names the claim that did not match, for `ERR_GRANT_MISMATCH`. */
export class GrantVerificationError extends Error {
  override readonly name = 'GrantVerificationError';
  readonly code: GrantErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: GrantErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** What the executor is about to do; every field given must match the grant exactly. */
export interface GrantExpectation {
  action?: string;
  environment?: string;
  /** Compared as a set of `{type, id}` (order-free); extra or missing resources are refused. */
  resources?: GrantResource[];
  /** `sha256:…` of the bounded action the executor will run (see evidenceHash). */
  evidenceHash?: string;
  /** Each permission the executor will use must be among the granted ones. */
  permissions?: string[];
}

export interface VerifyGrantOptions {
  /** The service's `/.well-known/jwks.json`. Fetched once and cached per URL; an unknown `kid`
   * triggers a refetch (at most every 5 s), so right after a rotation an `ERR_GRANT_UNKNOWN_KEY`
   * can be transient: retry once after a few seconds. */
  jwksUrl?: string | URL;
  /** A JWKS held locally instead of `jwksUrl`. */
  jwks?: JSONWebKeySet;
  /** The service's public URL, exactly as it issues grants. */
  issuer: string;
  /** This executor's name: the gate request's `audience`. */
  audience: string;
  expect?: GrantExpectation;
  /** Allowed clock difference for `exp` and `nbf`; default 30, at most 300. */
  clockToleranceSeconds?: number;
  /** Verification time; default the current time. */
  now?: Date;
}

const remoteSets = new Map<string, JWTVerifyGetKey>();
const MAX_TOKEN_CHARS = 512 * 1024;
/** The most clock difference a caller may allow: more would accept grants long expired. */
export const MAX_CLOCK_TOLERANCE_SECONDS = 300;
/** How long a fetched JWKS is used: the served max-age plus stale-while-revalidate (see jwks.ts). */
const REMOTE_JWKS_MAX_AGE_MS = (60 + 30) * 1000;

function keySetFor(options: Pick<VerifyGrantOptions, 'jwks' | 'jwksUrl'>): JWTVerifyGetKey {
  // A key set given by the caller is read on every call (jose copies it): an executor that
  // refreshes its copy in place must see a removed or a new key at once.
  if (options.jwks) return createLocalJWKSet(options.jwks);
  if (options.jwksUrl) {
    const url = new URL(options.jwksUrl);
    let set = remoteSets.get(url.href);
    // A 5 s cooldown (jose's default is 30 s) so that a grant signed by a just-rotated key is
    // refused for seconds at most; it still bounds refetches caused by made-up kids.
    // The cache lives as long as the served Cache-Control allows (jose's default is 10 minutes), so
    // a withdrawn key stops verifying within that time.
    if (!set) remoteSets.set(url.href, (set = createRemoteJWKSet(url, { cooldownDuration: 5_000, cacheMaxAge: REMOTE_JWKS_MAX_AGE_MS })));
    return set;
  }
  throw new TypeError('verifyGrant needs jwksUrl or jwks');
}

/**
 * Verifies a Countersign grant before acting on it: ES256 signature against the service's
 * JWKS, header `typ`, `iss`, `aud`, `exp`/`nbf` (with a small clock tolerance), the claims'
 * shape, then an exact match of what the executor is about to do. Resolves with the claims;
 * rejects with a {@link GrantVerificationError} whose `code` says why.
 *
 * @example
 * ```ts
 * import { verifyGrant, GrantVerificationError } from 'countersign/client';
 *
 * try {
 *   const grant = await verifyGrant(token, {
 *     jwksUrl: 'https://countersign.example.com/.well-known/jwks.json',
 *     issuer: 'https://countersign.example.com',
 *     audience: 'deploy-runner',
 *     expect: {
 *       action: 'k8s.deploy',
 *       environment: 'production',
 *       resources: [{ type: 'k8s.deployment', id: 'prod-eu/checkout' }],
 *       evidenceHash: evidenceHash(body), // of the exact request this runner will execute
 *     },
 *   });
 *   // then consume it once: POST /v1/grants/introspect { token } → { active: true, … }
 * } catch (err) {
 *   if (err instanceof GrantVerificationError) refuse(err.code); // e.g. ERR_GRANT_EXPIRED
 *   else throw err;
 * }
 * ```
 */
export async function verifyGrant(token: string, options: VerifyGrantOptions): Promise<GrantClaims> {
  // A setting missing at runtime (an unset variable) must refuse, not skip the check.
  if (typeof options.audience !== 'string' || options.audience === '') {
    throw new GrantVerificationError(GrantErrorCode.Audience, 'verifyGrant needs the audience this executor is (options.audience); refusing without it');
  }
  // The same for what the executor is about to do: `expect: { action: process.env.ACTION }` with
  // the variable unset must refuse, not accept any action. (Leave a key out to not check it.)
  for (const [field, value] of Object.entries(options.expect ?? {})) {
    if (value === undefined || value === '') {
      throw new GrantVerificationError(GrantErrorCode.Mismatch, `verifyGrant was asked to check ${field}, but the expected value is ${value === '' ? 'empty' : 'undefined'}; refusing`, {
        details: { field, expected: value },
      });
    }
  }
  let keys: JWTVerifyGetKey;
  try {
    keys = keySetFor(options);
  } catch (err) {
    throw new GrantVerificationError(GrantErrorCode.JwksUnavailable, (err as Error).message, { cause: err });
  }
  return verifyGrantWith(token, keys, options);
}

/**
 * The same checks with any jose key resolver (the service's own introspection passes its key
 * ring). `audience` may be left out only by a caller that checks it itself.
 */
export async function verifyGrantWith(
  token: string,
  keys: JWTVerifyGetKey,
  options: Omit<VerifyGrantOptions, 'jwks' | 'jwksUrl' | 'audience'> & { audience?: string },
): Promise<GrantClaims> {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS) {
    throw new GrantVerificationError(GrantErrorCode.Malformed, 'grant is not a token of a plausible size');
  }
  if (typeof options.issuer !== 'string' || options.issuer === '') {
    throw new GrantVerificationError(GrantErrorCode.Issuer, 'verifyGrant needs the issuer to trust (options.issuer); refusing without it');
  }
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch (err) {
    throw new GrantVerificationError(GrantErrorCode.Malformed, 'grant is not a compact JWS', { cause: err });
  }
  if (header.alg !== GRANT_ALG) {
    throw new GrantVerificationError(GrantErrorCode.Algorithm, `grant alg ${String(header.alg)} is not ${GRANT_ALG}`);
  }
  if (typeof header.kid !== 'string' || header.kid === '') {
    throw new GrantVerificationError(GrantErrorCode.Malformed, 'grant header has no kid');
  }
  // A tolerance or a clock that is not a number (an unset variable read with Number()) is the
  // caller's mistake: say so, instead of failing later as if the keys were unavailable.
  if (options.clockToleranceSeconds !== undefined && !Number.isFinite(options.clockToleranceSeconds)) {
    throw new TypeError(`verifyGrant: clockToleranceSeconds must be a finite number of seconds, got ${String(options.clockToleranceSeconds)}`);
  }
  if (options.now !== undefined && !(options.now instanceof Date && Number.isFinite(options.now.getTime()))) {
    throw new TypeError(`verifyGrant: now must be a valid Date, got ${String(options.now)}`);
  }
  const tolerance = Math.min(Math.max(options.clockToleranceSeconds ?? 30, 0), MAX_CLOCK_TOLERANCE_SECONDS);
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, keys, {
      algorithms: [GRANT_ALG],
      typ: GRANT_TYP,
      issuer: options.issuer,
      ...(options.audience !== undefined ? { audience: options.audience } : {}),
      clockTolerance: tolerance,
      ...(options.now ? { currentDate: options.now } : {}),
      requiredClaims: ['iss', 'aud', 'sub', 'jti', 'iat', 'nbf', 'exp'],
    }));
  } catch (err) {
    throw fromJose(err, header.kid);
  }
  const parsed = GrantClaimsSchema.safeParse(payload);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => i.path.join('.')).join(', ');
    throw new GrantVerificationError(GrantErrorCode.Malformed, `grant claims do not have the grant's shape (${fields})`);
  }
  // Countersign never issues a grant that lives longer than MAX_GRANT_TTL_SECONDS, nor one dated
  // in the future: such a token means a signing bug or a leaked key, not a grant.
  const claims = parsed.data;
  if (claims.exp - claims.iat > MAX_GRANT_TTL_SECONDS || claims.nbf < claims.iat) {
    throw new GrantVerificationError(GrantErrorCode.Malformed, `grant lifetime ${claims.exp - claims.iat} s is not one Countersign issues (at most ${MAX_GRANT_TTL_SECONDS} s)`);
  }
  const nowSeconds = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (claims.iat > nowSeconds + tolerance) {
    throw new GrantVerificationError(GrantErrorCode.NotYetValid, `grant was issued in the future (iat ${claims.iat})`);
  }
  if (options.expect) assertExpected(claims, options.expect);
  return claims;
}

function fromJose(err: unknown, kid: string): GrantVerificationError {
  const code = (err as { code?: unknown })?.code;
  const claim = (err as { claim?: unknown })?.claim;
  const message = (err as Error)?.message ?? String(err);
  const wrap = (c: GrantErrorCode, m: string) => new GrantVerificationError(c, m, { cause: err });
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return wrap(GrantErrorCode.Expired, 'grant has expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'nbf') return wrap(GrantErrorCode.NotYetValid, 'grant is not valid yet');
      if (claim === 'iss') return wrap(GrantErrorCode.Issuer, 'grant was issued by someone else');
      if (claim === 'aud') return wrap(GrantErrorCode.Audience, 'grant is for another executor');
      if (claim === 'typ') return wrap(GrantErrorCode.Type, `token is not a ${GRANT_TYP}`);
      return wrap(GrantErrorCode.Malformed, `grant claim ${String(claim)} is invalid: ${message}`);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return wrap(GrantErrorCode.InvalidSignature, 'grant signature is invalid');
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return wrap(GrantErrorCode.UnknownKey, `grant is signed by key ${kid}, which the JWKS does not publish`);
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return wrap(GrantErrorCode.Algorithm, `grant alg is not ${GRANT_ALG}`);
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return wrap(GrantErrorCode.Malformed, `grant is malformed: ${message}`);
    default:
      // JWKS fetch problems: timeouts, non-200 answers, network errors, an invalid document.
      return wrap(GrantErrorCode.JwksUnavailable, `cannot get the signing keys: ${message}`);
  }
}

const resourceKey = (r: GrantResource) => JSON.stringify([r.type, r.id]);

function assertExpected(claims: GrantClaims, expect: GrantExpectation): void {
  const mismatch = (field: string, expected: unknown, actual: unknown): never => {
    throw new GrantVerificationError(GrantErrorCode.Mismatch, `grant ${field} does not match what is about to run`, {
      details: { field, expected, actual },
    });
  };
  if (expect.action !== undefined && claims.action !== expect.action) mismatch('action', expect.action, claims.action);
  if (expect.environment !== undefined && claims.env !== expect.environment) {
    mismatch('environment', expect.environment, claims.env);
  }
  if (expect.evidenceHash !== undefined && claims.evh !== expect.evidenceHash) {
    mismatch('evidenceHash', expect.evidenceHash, claims.evh);
  }
  if (expect.resources !== undefined) {
    const granted = claims.resources.map(resourceKey).sort();
    const wanted = expect.resources.map(resourceKey).sort();
    if (granted.length !== wanted.length || granted.some((k, i) => k !== wanted[i])) {
      mismatch('resources', expect.resources, claims.resources);
    }
  }
  if (expect.permissions !== undefined) {
    const missing = expect.permissions.filter((p) => !claims.permissions.includes(p));
    if (missing.length > 0) mismatch('permissions', expect.permissions, claims.permissions);
  }
}
