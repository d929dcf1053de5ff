import { createHash } from 'node:crypto';

/** The chain's first `prev`. */
export const GENESIS = '0'.repeat(64);

/** One link of an audit chain, as the store keeps it (see scripts/lib/audit.lua). */
export interface AuditLink {
  seq: number;
  prev: string;
  hash: string;
  /** SHA-256 of `entry`. */
  digest: string;
  from: string;
  to: string;
  /** The entry as JSON text: the digest covers these exact bytes. */
  entry: string;
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest();

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * The parsed value as an object carrying what every hash-chained record has (prev and digest as
 * SHA-256 hex, hash and entry as text), or undefined: damaged data must be reported, not crash
 * a check.
 */
export function chainFields(value: unknown): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Record<string, unknown>;
  const ok = typeof r.prev === 'string' && HEX64.test(r.prev) && typeof r.digest === 'string' && HEX64.test(r.digest) && typeof r.hash === 'string' && typeof r.entry === 'string';
  return ok ? r : undefined;
}

/** True when a parsed value has the shape of a link. */
export function isAuditLink(value: unknown): value is AuditLink {
  const l = chainFields(value);
  return l !== undefined && Number.isInteger(l.seq) && typeof l.from === 'string' && typeof l.to === 'string';
}

/** The link hash: SHA-256 over prev and digest (32 raw bytes each), then `seq\nfrom\nto`. */
export function linkHash(link: Pick<AuditLink, 'prev' | 'digest' | 'seq' | 'from' | 'to'>): string {
  return createHash('sha256').update(Buffer.from(link.prev, 'hex')).update(Buffer.from(link.digest, 'hex')).update(`${link.seq}\n${link.from}\n${link.to}`, 'utf8').digest('hex');
}

export interface ChainProblem {
  /** Position in the list as read (1-based), and the seq the link claims. */
  position: number;
  seq: number | undefined;
  problem: 'modified' | 'bad_link' | 'removed_or_reordered' | 'unreadable' | 'broken_transition';
  detail: string;
}

/**
 * Checks a chain: each entry matches its digest, each link hash is right, each `prev` is the
 * previous hash, seq counts 1, 2, 3 …, and each link starts in the state the one before ended
 * in (the first in none) — naming each link where any of that fails.
 */
export function verifyChain(raw: readonly string[]): ChainProblem[] {
  const problems: ChainProblem[] = [];
  let prev = GENESIS;
  /** The state the previous link left the gate in ('' before the first). */
  let state: string | undefined = '';
  raw.forEach((text, i) => {
    const position = i + 1;
    let link: AuditLink;
    try {
      link = JSON.parse(text) as AuditLink;
    } catch {
      problems.push({ position, seq: undefined, problem: 'unreadable', detail: 'not JSON' });
      state = undefined;
      return;
    }
    if (!isAuditLink(link)) {
      problems.push({ position, seq: undefined, problem: 'unreadable', detail: 'not an audit link (fields missing or of the wrong type)' });
      state = undefined;
      return;
    }
    if (sha256(link.entry).toString('hex') !== link.digest) {
      problems.push({ position, seq: link.seq, problem: 'modified', detail: 'the entry does not match its digest' });
    } else if (linkHash(link) !== link.hash) {
      problems.push({ position, seq: link.seq, problem: 'bad_link', detail: 'the link hash does not match its fields' });
    } else if (link.seq !== position || link.prev !== prev) {
      problems.push({ position, seq: link.seq, problem: 'removed_or_reordered', detail: `expected seq ${position} after ${prev.slice(0, 12)}…, found seq ${link.seq} after ${link.prev.slice(0, 12)}…` });
    } else if (state !== undefined && link.from !== state) {
      // Each move starts where the last one ended: a gap means a move the chain never recorded.
      problems.push({ position, seq: link.seq, problem: 'broken_transition', detail: `the link moves the gate from ${link.from || 'nothing'}, but the link before left it ${state || 'not yet created'}` });
    }
    prev = link.hash;
    state = link.to;
  });
  return problems;
}
