import { createHash } from 'node:crypto';
import { exactJson } from '../../core/evidence-hash.js';
import type { Gate, Vote } from '../../core/gate.js';
import type { GateState } from '../../core/gate-state.js';

/**
 * How a gate and its audit entries look in Redis: the pieces GateStore and its scripts'
 * argument builders share.
 */

/** The immutable part of a gate, stored once as JSON. */
export type GateRecord = Pick<Gate, 'id' | 'agentId' | 'request' | 'delivery' | 'evidenceHash' | 'decision' | 'createdAt'>;

/**
 * The record as stored. With `requestJson` (the request's RFC 8785 text, which intake has from
 * the evidence hash) the text is embedded rather than the request serialized again.
 */
export function recordJson(record: GateRecord, requestJson?: string): string {
  if (requestJson === undefined) return JSON.stringify(record);
  return `{"request":${requestJson},${JSON.stringify({ ...record, request: undefined }).slice(1)}`;
}

/** What an audit entry says; the store adds the chain links. */
export interface AuditEntry {
  event: string;
  actor: string;
  at: number;
  [key: string]: unknown;
}

/**
 * An audit entry's JSON text and its SHA-256 (hex): what the scripts append and link. The digest
 * covers these exact bytes and every check hashes the stored text, so the text keeps the members
 * in the order the entry was written (no RFC 8785 sorting, which cost intake a twentieth of its
 * time); it refuses what canonical JSON refuses.
 */
export function entryArgs(entry: AuditEntry): [string, string] {
  const json = exactJson(entry);
  return [json, createHash('sha256').update(json, 'utf8').digest('hex')];
}

/**
 * Script arguments for one audit entry: its JSON text, the arguments that sit between
 * it and its digest in the script's ARGV, then its SHA-256 (computed here, so the script only
 * hashes the short chain link).
 */
export function auditArgs(entry: AuditEntry, ...between: Array<string | number>): Array<string | number> {
  const [json, digest] = entryArgs(entry);
  return [json, ...between, digest];
}

/**
 * What read-gate-5.lua answers: the gate's hashes as flat field/value lists and, for a redeem,
 * the chain's last link and the reviewer set (user id, team label, …).
 */
export type GateReadReply = [string[], string[], string[], (string | null)?, string[]?];

/** A flat HGETALL list as an object. */
function fieldsOf(flat: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!flat) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/** The gate from the reply of read-gate-5.lua (undefined when there is none). */
export function gateOf(reply: GateReadReply): Gate | undefined {
  const fields = fieldsOf(reply[0]);
  if (!fields.record) return undefined;
  const votes: Vote[] = [];
  const flatVotes = reply[1] ?? [];
  for (let i = 1; i < flatVotes.length; i += 2) votes.push(JSON.parse(flatVotes[i]!) as Vote);
  votes.sort((a, b) => a.at - b.at);
  const annotations: Record<string, unknown> = {};
  const flatNotes = reply[2] ?? [];
  for (let i = 0; i + 1 < flatNotes.length; i += 2) annotations[flatNotes[i]!] = JSON.parse(flatNotes[i + 1]!) as unknown;
  const record = JSON.parse(fields.record) as GateRecord;
  const gate: Gate = {
    ...record,
    state: fields.state as GateState,
    version: Number(fields.version),
    updatedAt: Number(fields.updatedAt),
    votes,
    annotations,
  };
  if (fields.reviewDeadline) gate.reviewDeadline = Number(fields.reviewDeadline);
  if (fields.executionDeadline) gate.executionDeadline = Number(fields.executionDeadline);
  if (fields.resolution) gate.resolution = JSON.parse(fields.resolution) as Gate['resolution'];
  return gate;
}
