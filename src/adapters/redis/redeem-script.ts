import { linkHash } from '../../core/audit-chain.js';
import { sha256OfJson } from '../../core/evidence-hash.js';
import type { Gate } from '../../core/gate.js';
import { entryArgs, type AuditEntry } from './gate-codec.js';

/**
 * The arguments and answers of the redeem script (scripts/redeem-3.lua), apart from the store
 * that runs it.
 */

/** What a redeem presents and, when the caller read the gate as redeemable, the grant it minted. */
export interface RedeemRequest {
  now: number;
  actor: string;
  presentedHash: string;
  /** The gate's evidence hash, from its record (which never changes after create). */
  approvedHash: string;
  /** The request's Idempotency-Key: a retry with the same key gets the same grant once more. */
  idempotencyKey?: string;
  grant?: { token: string; jti: string; exp: number; note: Record<string, unknown> };
  audit: { redeem: AuditEntry; invalidate: AuditEntry; redeliver: AuditEntry };
  /** A note (annotation) that an invalidation records in the same step, e.g. what reviewers are shown. */
  invalidationNote?: { name: string; value: unknown };
  /** The caller's read of the gate (see readForRedeem): a successful redeem then answers
   * without reading it again, and links its audit entry to the tail read with it. */
  seen?: Gate;
  auditTail?: AuditTail;
}

/** The last link of a gate's audit chain, as far as the next link needs it. */
export interface AuditTail {
  hash: string;
  seq: number;
}

/** How a redeem ended; refusals are values here, the use case turns them into errors. */
export type RedeemOutcome =
  | { kind: 'redeemed'; gate: Gate }
  | { kind: 'redelivered'; gate: Gate; token: string }
  | { kind: 'invalidated'; gate: Gate }
  | { kind: 'expired'; gate: Gate }
  | { kind: 'replay'; gate: Gate }
  | { kind: 'not_approved'; gate: Gate }
  /** Redeemable, but no grant was passed: the caller's read was older than the gate. */
  | { kind: 'unminted'; gate: Gate };

const REDEEM_OUTCOMES: Record<number, RedeemOutcome['kind']> = {
  1: 'redeemed',
  2: 'redelivered',
  [-2]: 'not_approved',
  [-3]: 'expired',
  [-6]: 'replay',
  [-7]: 'invalidated',
  [-8]: 'unminted',
};

/** The outcome a redeem script answer code stands for (undefined: no such gate, or unknown). */
export function redeemOutcomeKind(code: number): RedeemOutcome['kind'] | undefined {
  return REDEEM_OUTCOMES[code];
}

/**
 * ARGV of redeem-3.lua. The script uses one audit entry: invalidate when the hashes differ
 * (ARGV[3] is the gate's own hash, so that is known here), else redeem, or re-delivery for a
 * retry with an Idempotency-Key; only that one is serialized and hashed. With a grant and
 * the chain's tail as the caller read it, the redeem link's hash is computed here too; the
 * script uses it only while the tail is still that one: two SHA-256 blocks less in Lua.
 */
export function redeemArgs(request: RedeemRequest, tail: AuditTail | undefined): Array<string | number> {
  const unused = ['', ''];
  const drifted = request.presentedHash !== request.approvedHash;
  const grant = request.grant;
  const redeemEntry = drifted ? unused : entryArgs(request.audit.redeem);
  const link = grant && tail && !drifted ? [tail.hash, linkHash({ prev: tail.hash, digest: redeemEntry[1]!, seq: tail.seq + 1, from: 'approved', to: 'redeemed' })] : unused;
  return [
    request.now,
    request.presentedHash,
    request.approvedHash,
    request.actor,
    request.idempotencyKey === undefined ? '' : sha256OfJson(['redeem', request.idempotencyKey]),
    grant?.token ?? '',
    grant?.jti ?? '',
    grant?.exp ?? '',
    grant ? JSON.stringify(grant.note) : '',
    ...redeemEntry,
    ...(drifted ? entryArgs(request.audit.invalidate) : unused),
    ...(!drifted && request.idempotencyKey !== undefined ? entryArgs(request.audit.redeliver) : unused),
    ...link,
    ...(drifted && request.invalidationNote ? [request.invalidationNote.name, JSON.stringify(request.invalidationNote.value)] : unused),
  ];
}
