import { errors as joseErrors, type JSONWebKeySet, type JWTVerifyGetKey, createLocalJWKSet } from 'jose';
import type { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { CountersignError, ErrorCode, isCountersignError } from '../../core/errors.js';
import { gateKeys } from './keys.js';
import { runScript, type ScriptReply } from './scripts.js';

const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
import { GRANT_ID, type GrantClaims } from '../credentials/grant-claims.js';
import type { KeyRing } from '../credentials/key-ring.js';
import { GrantErrorCode, GrantVerificationError, verifyGrantWith } from '../../client/verify-grant.js';

/**
 * Single use of a grant. The gate's own key `cs:{g:<gate>}:grant-used` is the authority:
 * whoever creates it first consumed the grant, in the same script that links the consumption
 * (who, when) into the gate's audit chain and that refuses once the gate is no longer
 * `redeemed` (its outcome was reported). The marker lives until the grant's `exp` plus a
 * margin, after which the grant is refused as expired anyway; the chain keeps the record.
 */

/** Kept beyond `exp` so that a replica whose clock runs behind Redis's still finds the marker
 * while it considers the grant unexpired (introspection allows 5 s; clocks may drift more). */
export const LEDGER_SKEW_MARGIN_MS = 60_000;

/** Clock tolerance of introspection. Small: the service issued the grant itself. */
export const INTROSPECT_CLOCK_TOLERANCE_SECONDS = 5;

export type LedgerRedis = Redis;

export type ConsumeResult =
  | { first: true }
  | { first: false; consumedAt: number; consumer: string }
  | { first: false; closed: string }
  /** No such gate, or a grant the gate did not issue. */
  | { first: false; foreign: true };

/**
 * Where releases before the marker moved into the gate's keys recorded a consumption. Still
 * claimed first (SET NX), so that while old and new replicas run side by side neither can
 * consume a grant the other did; drop once no replica of those releases runs and their grants
 * have expired.
 */
export function grantUsedKey(jti: string): string {
  if (!GRANT_ID.test(jti)) {
    throw new CountersignError(ErrorCode.InvalidToken, 'grant id must be 8–128 characters of A–Z a–z 0–9 _ -');
  }
  return `cs:{grant:${jti}}:used`;
}

/** Deletes a key only while it holds the given value. */
const RELEASE_IF_OURS = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

function parseMarker(raw: unknown): { first: false; consumedAt: number; consumer: string } {
  try {
    const parsed = JSON.parse(String(raw)) as { consumer?: unknown; consumedAt?: unknown };
    return {
      first: false,
      consumedAt: typeof parsed.consumedAt === 'number' ? parsed.consumedAt : 0,
      consumer: typeof parsed.consumer === 'string' ? parsed.consumer : 'unknown',
    };
  } catch {
    return { first: false, consumedAt: 0, consumer: 'unknown' };
  }
}

/**
 * Marks the grant of gate `grant.gid` as consumed by `consumer` at `now` (epoch ms), once, and
 * appends a `grant_consumed` link to the gate's chain (consume-grant-4.lua). Of any number of
 * concurrent calls exactly one sees `first: true`; the others learn who consumed it and when,
 * or that the gate is closed (`closed`: its state).
 */
export async function consumeGrant(
  redis: LedgerRedis,
  grant: { jti: string; gid: string; exp: number },
  consumer: string,
  now: number,
): Promise<ConsumeResult> {
  const marker = JSON.stringify({ consumer, consumedAt: now });
  // Never an expiry in the past: Redis would drop the marker at once and let the grant run twice.
  const expireAt = Math.max(grant.exp * 1000, now) + LEDGER_SKEW_MARGIN_MS;
  const entry = JSON.stringify({ event: 'grant_consumed', actor: consumer, at: now, grantId: grant.jti });
  const keys = gateKeys(grant.gid);
  const legacyKey = grantUsedKey(grant.jti);
  let reply: ScriptReply;
  try {
    const legacy = await redis.call('SET', legacyKey, marker, 'NX', 'PXAT', String(expireAt), 'GET');
    if (legacy !== null) return parseMarker(legacy);
    reply = await runScript(redis, 'consume-grant-4', [keys.gate, keys.audit, keys.notes, keys.grantUsed], [grant.jti, marker, expireAt, entry, sha256Hex(entry)]);
    // Refused here (gate closed, not its grant): take back the claim made for older replicas,
    // if it is still ours, so that a later attempt hears the same reason, not "already used".
    if (Number(reply[0]) < 0) await redis.eval(RELEASE_IF_OURS, 1, legacyKey, marker);
  } catch (err) {
    if (isCountersignError(err)) throw err;
    const timedOut = (err as Error).message === 'Command timed out';
    throw new CountersignError(
      ErrorCode.StoreUnavailable,
      timedOut ? 'the store did not answer in time: the grant may have been consumed, or not; ask for a new gate if a retry says already_used' : 'cannot record the grant as used',
      { cause: err },
    );
  }
  switch (Number(reply[0])) {
    case 1:
      return { first: true };
    case 0:
      return parseMarker(reply[1]);
    case -2:
      return { first: false, closed: String(reply[1]) };
    default:
      // No such gate, or the grant is not the one the gate issued: nothing to consume.
      return { first: false, foreign: true };
  }
}

/** Why introspection answers `active: false`. */
export type InactiveReason =
  | 'already_used'
  | 'gate_closed'
  | 'expired'
  | 'not_yet_valid'
  | 'invalid_signature'
  | 'unknown_key'
  | 'unsupported_algorithm'
  | 'wrong_type'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'malformed';

/** RFC 7662 §2.2 answer: the claims when active; when not, only the reason (never the claims). */
export type IntrospectionAnswer = ({ active: true } & GrantClaims) | { active: false; reason: InactiveReason };

export interface IntrospectOptions {
  /** The service's key ring (the usual case), or a JWKS. */
  ring?: KeyRing;
  jwks?: JSONWebKeySet;
  issuer: string;
  redis: LedgerRedis;
  /** Who consumes: the authenticated executor's id, recorded on the marker. */
  consumer: string;
  /** Epoch ms. */
  now: number;
  /** When given, the grant's `aud` must be one of these (the executor's registered audiences):
   * an executor cannot burn another executor's grant. */
  audience?: string | string[];
}

const REASONS: Record<GrantErrorCode, InactiveReason> = {
  ERR_GRANT_MALFORMED: 'malformed',
  ERR_GRANT_INVALID_SIGNATURE: 'invalid_signature',
  ERR_GRANT_UNKNOWN_KEY: 'unknown_key',
  ERR_GRANT_ALGORITHM: 'unsupported_algorithm',
  ERR_GRANT_TYPE: 'wrong_type',
  ERR_GRANT_ISSUER: 'wrong_issuer',
  ERR_GRANT_AUDIENCE: 'wrong_audience',
  ERR_GRANT_EXPIRED: 'expired',
  ERR_GRANT_NOT_YET_VALID: 'not_yet_valid',
  ERR_GRANT_MISMATCH: 'malformed',
  ERR_GRANT_JWKS_UNAVAILABLE: 'unknown_key',
};

function ringKeys(ring: KeyRing, now: number): JWTVerifyGetKey {
  return (header) => {
    const key = header.kid ? ring.verificationKey(header.kid, now) : undefined;
    if (!key) throw new joseErrors.JWKSNoMatchingKey();
    return key;
  };
}

/**
 * `POST /v1/grants/introspect` without the HTTP: verifies the grant (signature against the
 * ring's published keys, `typ`, `iss`, `exp`/`nbf`, shape, optionally `aud`) and consumes its
 * `jti`. The first call answers `{ active: true, ...claims }`; every later one, and any invalid
 * grant, `{ active: false, reason }`. A Redis failure throws `ERR_STORE_UNAVAILABLE` rather
 * than answering either way.
 */
export async function introspectGrant(token: string, options: IntrospectOptions): Promise<IntrospectionAnswer> {
  let keys: JWTVerifyGetKey;
  if (options.ring) keys = ringKeys(options.ring, options.now);
  else if (options.jwks) keys = createLocalJWKSet(options.jwks);
  else throw new TypeError('introspectGrant needs ring or jwks');
  let claims: GrantClaims;
  try {
    claims = await verifyGrantWith(token, keys, {
      issuer: options.issuer,
      now: new Date(options.now),
      clockToleranceSeconds: INTROSPECT_CLOCK_TOLERANCE_SECONDS,
    });
  } catch (err) {
    if (err instanceof GrantVerificationError) return { active: false, reason: REASONS[err.code] };
    throw err;
  }
  if (options.audience !== undefined) {
    const allowed = Array.isArray(options.audience) ? options.audience : [options.audience];
    if (!allowed.includes(claims.aud)) return { active: false, reason: 'wrong_audience' };
  }
  const used = await consumeGrant(options.redis, claims, options.consumer, options.now);
  if (!used.first) return { active: false, reason: 'closed' in used ? 'gate_closed' : 'foreign' in used ? 'malformed' : 'already_used' };
  return { active: true, ...claims };
}
