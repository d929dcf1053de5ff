import { createHash } from 'node:crypto';
import { chainFields, GENESIS } from '../../core/audit-chain.js';

/**
 * The deployment-wide audit chain: one hash-chained list that copies every link of every gate's
 * chain (in the order they reached it) and records admin actions. Each gate's own chain stays the
 * authority (it is written atomically with the transition); this one orders everything, so that
 * removing or reordering anything anywhere breaks a link someone can name.
 */

/** One record of the deployment chain, as stored (JSON) in the list. */
export interface DeploymentRecord {
  /** 1-based position in the chain. */
  pos: number;
  prev: string;
  hash: string;
  /** SHA-256 of `entry`. */
  digest: string;
  kind: 'gate' | 'admin';
  /** The gate whose link this copies ('' for admin records). */
  gateId: string;
  /** The gate link's seq (0 for admin records). */
  seq: number;
  /** The gate link's own hash ('' for admin records): ties this record to that exact link. */
  gateHash: string;
  /** When the record was appended (epoch ms). */
  loggedAt: number;
  /** The entry as JSON text: the digest covers these bytes. */
  entry: string;
}

/** The chain's last record, kept next to it so that a cut-off tail is noticed. */
export interface ChainHead {
  pos: number;
  hash: string;
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest();

/** SHA-256 hex of an entry's text. */
export function entryDigest(entry: string): string {
  return sha256(entry).toString('hex');
}

/** The record hash: SHA-256 over prev and digest (32 raw bytes each), then kind, gate, seq, gate link hash, pos and time. */
export function recordHash(r: Omit<DeploymentRecord, 'hash' | 'entry'>): string {
  const tail = `${r.kind}\n${r.gateId}\n${r.seq}\n${r.gateHash}\n${r.pos}\n${r.loggedAt}`;
  return createHash('sha256').update(Buffer.from(r.prev, 'hex')).update(Buffer.from(r.digest, 'hex')).update(tail, 'utf8').digest('hex');
}

/** Builds the next record after `head` (undefined for the first). */
export function nextRecord(
  head: ChainHead | undefined,
  item: { kind: DeploymentRecord['kind']; gateId?: string; seq?: number; gateHash?: string; entry: string; loggedAt: number; digest?: string | undefined },
): DeploymentRecord {
  const base = {
    pos: (head?.pos ?? 0) + 1,
    prev: head?.hash ?? GENESIS,
    // The caller may pass the entry's digest when it computed it itself from these bytes.
    digest: item.digest ?? entryDigest(item.entry),
    kind: item.kind,
    gateId: item.gateId ?? '',
    seq: item.seq ?? 0,
    gateHash: item.gateHash ?? '',
    loggedAt: item.loggedAt,
  };
  return { ...base, hash: recordHash(base), entry: item.entry };
}

/** True when a parsed value has the shape of a record (see chainFields). */
export function isDeploymentRecord(value: unknown): value is DeploymentRecord {
  const r = chainFields(value);
  return (
    r !== undefined &&
    Number.isInteger(r.pos) &&
    (r.kind === 'gate' || r.kind === 'admin') &&
    typeof r.gateId === 'string' &&
    Number.isInteger(r.seq) &&
    typeof r.gateHash === 'string' &&
    Number.isFinite(r.loggedAt)
  );
}

/** A problem found in either chain, named so that someone can go and look. */
export interface AuditProblem {
  /** `deployment`: the deployment chain; `gate`: one gate's chain. */
  chain: 'deployment' | 'gate';
  /** Position in the list as read (1-based), when the problem sits at one. */
  position?: number;
  gateId?: string;
  seq?: number;
  problem: 'modified' | 'bad_link' | 'removed_or_reordered' | 'unreadable' | 'removed' | 'mismatch' | 'broken_transition' | 'state_mismatch';
  detail: string;
}

/**
 * Checks a run of deployment records starting at `expectedPos` after `prev`: each entry matches
 * its digest, each hash its fields, each `prev` the previous hash and positions count up.
 * Returns the problems and the last hash seen, so long chains can be checked in pages.
 */
export function verifyRecords(raw: readonly string[], start: { pos: number; prev: string }): { problems: AuditProblem[]; records: Array<DeploymentRecord | undefined>; last: ChainHead } {
  const problems: AuditProblem[] = [];
  const records: Array<DeploymentRecord | undefined> = [];
  let prev = start.prev;
  let pos = start.pos;
  /** The pos the next record should carry: one more than the last readable record's. */
  let expected = start.pos;
  for (const text of raw) {
    const position = pos;
    pos += 1;
    let r: DeploymentRecord;
    try {
      r = JSON.parse(text) as DeploymentRecord;
    } catch {
      problems.push({ chain: 'deployment', position, problem: 'unreadable', detail: 'not JSON' });
      records.push(undefined);
      continue;
    }
    if (!isDeploymentRecord(r)) {
      problems.push({ chain: 'deployment', position, problem: 'unreadable', detail: 'not a deployment record (fields missing or of the wrong type)' });
      records.push(undefined);
      continue;
    }
    records.push(r);
    const where = { chain: 'deployment' as const, position, ...(r.gateId ? { gateId: r.gateId, seq: r.seq } : {}) };
    if (typeof r.entry !== 'string' || entryDigest(r.entry) !== r.digest) {
      problems.push({ ...where, problem: 'modified', detail: 'the entry does not match its digest' });
    } else if (recordHash(r) !== r.hash) {
      problems.push({ ...where, problem: 'bad_link', detail: 'the record hash does not match its fields' });
    } else if (r.pos !== expected || r.prev !== prev) {
      problems.push({
        ...where,
        problem: 'removed_or_reordered',
        detail: `expected record ${expected} after ${prev.slice(0, 12)}…, found record ${r.pos} after ${String(r.prev).slice(0, 12)}…`,
      });
    }
    // Continue from this record, so one gap is reported once, not at every later record.
    prev = r.hash;
    expected = (Number.isInteger(r.pos) ? r.pos : expected) + 1;
  }
  return { problems, records, last: { pos: expected - 1, hash: prev } };
}
