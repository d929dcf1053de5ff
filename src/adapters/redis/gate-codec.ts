import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { canonicalJson } from '../../core/evidence-hash.js';
import type { Gate, Vote } from '../../core/gate.js';
import type { GateState } from '../../core/gate-state.js';
import type { gateKeys } from './keys.js';

/**
 * How a gate and its audit entries look in Redis: the pieces GateStore and its scripts'
 * argument builders share.
 */

/** The immutable part of a gate, stored once as JSON. */
export type GateRecord = Pick<Gate, 'id' | 'agentId' | 'request' | 'delivery' | 'evidenceHash' | 'decision' | 'createdAt'>;

/** What an audit entry says; the store adds the chain links. */
export interface AuditEntry {
  event: string;
  actor: string;
  at: number;
  [key: string]: unknown;
}

/** An audit entry's canonical JSON and its SHA-256 (hex): what the scripts append and link. */
export function entryArgs(entry: AuditEntry): [string, string] {
  const json = canonicalJson(entry);
  return [json, createHash('sha256').update(json, 'utf8').digest('hex')];
}

/**
 * Script arguments for one audit entry: its canonical JSON, the arguments that sit between
 * it and its digest in the script's ARGV, then its SHA-256 (computed here, so the script only
 * hashes the short chain link).
 */
export function auditArgs(entry: AuditEntry, ...between: Array<string | number>): Array<string | number> {
  const [json, digest] = entryArgs(entry);
  return [json, ...between, digest];
}

/** The three hashes of a gate, in one MULTI (scripts write them together; so are they read). */
export function gateReadTx(redis: Redis, keys: ReturnType<typeof gateKeys>) {
  return redis.multi().hgetall(keys.gate).hgetall(keys.votes).hgetall(keys.notes);
}

export type TxReplies = Array<[Error | null, unknown]> | null;

/** The gate from the replies of {@link gateReadTx} (undefined when there is none). */
export function gateOf(replies: TxReplies): Gate | undefined {
  const fields = replies?.[0]?.[1] as Record<string, string> | undefined;
  if (!fields || !fields.record) return undefined;
  const votes = (replies?.[1]?.[1] ?? {}) as Record<string, string>;
  const notes = (replies?.[2]?.[1] ?? {}) as Record<string, string>;
  const record = JSON.parse(fields.record) as GateRecord;
  const gate: Gate = {
    ...record,
    state: fields.state as GateState,
    version: Number(fields.version),
    updatedAt: Number(fields.updatedAt),
    votes: Object.values(votes)
      .map((v) => JSON.parse(v) as Vote)
      .sort((a, b) => a.at - b.at),
    annotations: Object.fromEntries(Object.entries(notes).map(([k, v]) => [k, JSON.parse(v) as unknown])),
  };
  if (fields.reviewDeadline) gate.reviewDeadline = Number(fields.reviewDeadline);
  if (fields.executionDeadline) gate.executionDeadline = Number(fields.executionDeadline);
  if (fields.resolution) gate.resolution = JSON.parse(fields.resolution) as Gate['resolution'];
  return gate;
}
