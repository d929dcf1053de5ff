import { sign, type KeyObject } from 'node:crypto';
import { CountersignError, ErrorCode } from '../../core/errors.js';
import type { Gate } from '../../core/gate.js';
import { GRANT_ALG, GRANT_ID, GRANT_TYP, type GrantClaims } from './grant-claims.js';
import type { KeyRing } from './key-ring.js';

export {
  DEFAULT_GRANT_TTL_SECONDS,
  GRANT_ALG,
  GRANT_TYP,
  MAX_GRANT_TTL_SECONDS,
  type GrantClaims,
  type GrantResource,
} from './grant-claims.js';

export interface MintContext {
  ring: KeyRing;
  /** The service's public URL (COUNTERSIGN_PUBLIC_URL): executors pin it as `issuer`. */
  issuer: string;
  /** Epoch ms. */
  now: number;
  /** The grant id, consumed once through introspection: 8–128 of A–Z a–z 0–9 _ - (no `:`). */
  jti: string;
  /** The policy's grant TTL; capped by the ring's `maxGrantTtlSeconds`. */
  ttlSeconds: number;
  /** Who approved (Slack user ids or emails as the vote records them); empty when policy allowed. */
  approvers: string[];
}

export interface MintedGrant {
  token: string;
  /** The signing key's id (the token's `kid` header). */
  kid: string;
  claims: GrantClaims;
  /** Epoch ms (= `claims.exp` × 1000). */
  expiresAt: number;
}

/**
 * The claims of the one grant that a gate releases: exactly the approved bounded action
 * (environment, action, resource ids, permission names) and its evidence hash, bound to the
 * gate's audience, agent and requester. Nothing is read from anything but the gate.
 */
export function grantClaimsFor(gate: Gate, ctx: Omit<MintContext, 'ring'> & { maxGrantTtlSeconds: number }): GrantClaims {
  if (!GRANT_ID.test(ctx.jti)) {
    throw new CountersignError(ErrorCode.Internal, 'grant id must be 8–128 characters of A–Z a–z 0–9 _ -', {
      details: { jti: ctx.jti },
    });
  }
  if (!Number.isFinite(ctx.ttlSeconds) || ctx.ttlSeconds < 1) {
    throw new CountersignError(ErrorCode.Internal, `grant TTL must be at least 1 second, got ${ctx.ttlSeconds}`);
  }
  // Capped by the ring, not only by policy: the ring keeps a retired key published for exactly
  // this long, so a longer grant could outlive the key that verifies it.
  const ttl = Math.min(Math.floor(ctx.ttlSeconds), ctx.maxGrantTtlSeconds);
  const iat = Math.floor(ctx.now / 1000);
  const request = gate.request;
  return {
    iss: ctx.issuer,
    aud: request.audience,
    sub: gate.agentId,
    act: { sub: request.context.requester.email },
    jti: ctx.jti,
    gid: gate.id,
    iat,
    nbf: iat,
    exp: iat + ttl,
    env: request.environment,
    action: request.action,
    resources: request.resources.map((r) => ({ type: r.type, id: r.id })),
    permissions: request.permissions.map((p) => p.name),
    evh: gate.evidenceHash,
    approvers: [...ctx.approvers],
    pol: gate.decision.policyVersion,
  };
}

/**
 * Signs the grant of an approved gate with the ring's current key: an ES256 JWT whose
 * protected header is `{ alg: 'ES256', typ: 'countersign-grant+jwt', kid }`. The caller has
 * already moved the gate to `redeemed` in the same step that checked state, window and hash.
 *
 * @example
 * const { token, expiresAt } = await mintGrant(gate, {
 *   ring, issuer: 'https://countersign.example.com', now: Date.now(),
 *   jti: 'grt_01JD4Z7Q2M', ttlSeconds: gate.decision.grantTtlSeconds, approvers: ['U012AB', 'U034CD'],
 * });
 */
export async function mintGrant(gate: Gate, ctx: MintContext): Promise<MintedGrant> {
  const claims = grantClaimsFor(gate, { ...ctx, maxGrantTtlSeconds: ctx.ring.maxGrantTtlSeconds });
  const { kid, privateKey } = ctx.ring.current(ctx.now);
  const token = signEs256Jwt({ alg: GRANT_ALG, typ: GRANT_TYP, kid }, claims, privateKey);
  return { token, kid, claims, expiresAt: claims.exp * 1000 };
}

/**
 * A compact JWS (RFC 7515 §7.1) over JSON claims, signed ES256 (RFC 7518 §3.4: SHA-256, the
 * signature as R‖S, 64 bytes) with node:crypto directly. jose signs through WebCrypto, whose
 * asynchronous job per signature costs about four times the CPU of this synchronous call
 * (27 µs); verification stays with jose, and the tests check every grant with jose and with a
 * second JWT library.
 */
export function signEs256Jwt(header: { alg: 'ES256'; typ: string; kid: string }, claims: object, key: KeyObject): string {
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(input, 'ascii'), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

const base64url = (json: string) => Buffer.from(json, 'utf8').toString('base64url');
