import { evidenceHash } from '../../core/evidence-hash.js';

/**
 * Why a gate's stored request is not the one its chain recorded at creation, if it is not. The
 * request lives in the gate's record, outside the chain; the chain's `create` entry holds its
 * evidence hash, so the request is authentic exactly when it still hashes to that. Undefined
 * when it does, or when the entry names no hash (nothing to compare with).
 */
export function requestMismatch(request: unknown, createEntry: unknown): string | undefined {
  const recorded = (createEntry as { event?: unknown; evidenceHash?: unknown } | undefined)?.evidenceHash;
  if ((createEntry as { event?: unknown } | undefined)?.event !== 'create' || typeof recorded !== 'string') return undefined;
  if (typeof request !== 'object' || request === null || Array.isArray(request)) return "the gate's record holds no request";
  let now: string;
  try {
    now = evidenceHash(request as Record<string, unknown>);
  } catch {
    return "the gate's stored request cannot be hashed any more: the record was changed";
  }
  return now === recorded
    ? undefined
    : `the gate's stored request hashes to ${now.slice(0, 19)}…, but its chain recorded ${recorded.slice(0, 19)}… at creation: the record was changed`;
}

/** The entry of a gate chain's first link (the `create`), parsed; undefined when unreadable. */
export function firstEntry(firstLink: string | undefined): unknown {
  if (firstLink === undefined) return undefined;
  try {
    const link = JSON.parse(firstLink) as { seq?: unknown; entry?: unknown };
    return link.seq === 1 && typeof link.entry === 'string' ? (JSON.parse(link.entry) as unknown) : undefined;
  } catch {
    return undefined;
  }
}
