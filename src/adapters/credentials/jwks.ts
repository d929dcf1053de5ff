import { createHash } from 'node:crypto';
import type { KeyRing } from './key-ring.js';

/**
 * How long executors and caches may keep the JWKS.
 *
 * Only a *new* key is time-sensitive. A retired key stays published for the longest grant TTL
 * plus a margin after it stopped signing, so a cached JWKS that still lists it is harmless, and
 * one that was fetched before its removal can only lack keys no valid grant uses. A newly rotated
 * key, though, signs grants that a verifier holding an older copy cannot check. jose (and most
 * JWKS clients) refetch on an unknown `kid`, but a shared HTTP cache between them and us answers
 * from its copy until `max-age` (+ `stale-while-revalidate`) runs out. So `max-age` is kept no
 * longer than the time a rotation takes to reach every replica anyway (KeyRingWatcher reloads
 * every 60 s): 60 s, plus 30 s of stale-while-revalidate. The document is a few hundred bytes and
 * the ETag turns most refetches into 304s, so the short lifetime costs almost nothing.
 * For no gap at all behind caches, rotate with `--activate-after 150` (published before it signs):
 * up to 60 s until every replica reloads, plus 60 s of `max-age` and 30 s of stale-while-revalidate.
 */
export const JWKS_CACHE = { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 30 } as const;

export const JWKS_CONTENT_TYPE = 'application/jwk-set+json';

export interface JwksResponse {
  /** 304 when `ifNoneMatch` names the current ETag (then `body` is empty). */
  status: 200 | 304;
  body: string;
  headers: Record<string, string>;
}

/** The strong ETag of a JWKS body: a hash of its exact bytes. */
export function jwksEtag(body: string): string {
  return `"${createHash('sha256').update(body, 'utf8').digest('base64url').slice(0, 27)}"`;
}

function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  // Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/**
 * Everything `GET /.well-known/jwks.json` answers: the ring's public keys at `now`, with cache
 * headers that fit the rotation (see JWKS_CACHE) and an ETag. Pass the request's
 * `If-None-Match` to get a 304 when nothing changed.
 */
export function jwksResponse(ring: KeyRing, now: number, ifNoneMatch?: string): JwksResponse {
  const body = JSON.stringify(ring.publicJwks(now));
  const etag = jwksEtag(body);
  const headers: Record<string, string> = {
    'content-type': JWKS_CONTENT_TYPE,
    'cache-control': `public, max-age=${JWKS_CACHE.maxAgeSeconds}, stale-while-revalidate=${JWKS_CACHE.staleWhileRevalidateSeconds}`,
    etag,
  };
  if (matches(ifNoneMatch, etag)) return { status: 304, body: '', headers };
  return { status: 200, body, headers };
}
