import type { Redis } from 'ioredis';
import { CountersignError, ErrorCode } from '../../core/errors.js';
import { activeDeadline, type Gate, type Vote } from '../../core/gate.js';
import { canonicalJson } from '../../core/evidence-hash.js';
import { sourcesOf, type GateEvent, type GateState } from '../../core/gate-state.js';
import { agentIndexKey, DEADLINE_INDEX, gateKeys } from './keys.js';
import { runScript, type ScriptReply } from './scripts.js';

/** The immutable part of a gate, stored once as JSON. */
type GateRecord = Pick<Gate, 'id' | 'agentId' | 'request' | 'delivery' | 'evidenceHash' | 'decision' | 'createdAt'>;

/** One link of a gate's audit chain, as stored. */
export interface AuditLink {
  seq: number;
  prev: string;
  hash: string;
  from: string;
  to: string;
  /** The entry as JSON text: the chain hashes these exact bytes. */
  entry: string;
}

/** What an audit entry says; the store adds the chain links. */
export interface AuditEntry {
  event: string;
  actor: string;
  at: number;
  [key: string]: unknown;
}

export interface NewGate extends GateRecord {
  state: GateState;
  reviewDeadline?: number;
  executionDeadline?: number;
  audit: AuditEntry;
}

export interface TransitionRequest {
  event: GateEvent;
  now: number;
  audit: AuditEntry;
  /** Hash fields to set with the move (deadlines, resolution …). */
  set?: Record<string, string | number>;
  expectedVersion?: number;
}

export type TransitionResult =
  | { kind: 'moved'; gate: Gate; from: GateState }
  | { kind: 'noop'; gate: Gate };

/**
 * Gates in Redis. Every write is one Lua script that checks, moves and appends the audit
 * entry together; deadlines are enforced inside the scripts and on every read.
 */
export class GateStore {
  constructor(
    private readonly redis: Redis,
    private readonly options: { retentionSeconds?: number } = {},
  ) {}

  /** Creates the gate unless one with this id exists. Returns the gate either way. */
  async create(input: NewGate): Promise<{ created: boolean; gate: Gate }> {
    const keys = gateKeys(input.id);
    const record: GateRecord = {
      id: input.id,
      agentId: input.agentId,
      request: input.request,
      delivery: input.delivery,
      evidenceHash: input.evidenceHash,
      decision: input.decision,
      createdAt: input.createdAt,
    };
    const reply = await runScript(this.redis, 'create-gate-2', [keys.gate, keys.audit], [
      JSON.stringify(record),
      input.state,
      input.createdAt,
      input.reviewDeadline ?? '',
      input.executionDeadline ?? '',
      auditJson(input.audit),
      this.options.retentionSeconds ?? '',
    ]);
    const created = reply[0] === 1;
    if (created) await this.index(input.id, input.agentId, input.createdAt);
    const gate = await this.read(input.id);
    if (!gate) throw new CountersignError(ErrorCode.StoreUnavailable, `gate ${input.id} vanished after create`);
    if (created) await this.indexDeadline(gate);
    return { created, gate };
  }

  /**
   * Reads a gate, first applying a deadline that has passed (so a reader never sees a
   * `pending_review` or `approved` gate whose window is over).
   */
  async get(id: string, now: number): Promise<Gate | undefined> {
    const keys = gateKeys(id);
    const reply = await runScript(this.redis, 'touch-2', [keys.gate, keys.audit], [now]);
    if (reply[0] === -1) return undefined;
    const gate = await this.read(id);
    if (gate && reply[0] === 1) await this.indexDeadline(gate);
    return gate;
  }

  /** Reads a gate owned by `agentId`; another agent's gate is reported as not found. */
  async getOwned(id: string, agentId: string, now: number): Promise<Gate> {
    const gate = await this.get(id, now);
    if (!gate || gate.agentId !== agentId) {
      throw new CountersignError(ErrorCode.GateNotFound, `no gate ${id}`, { details: { gateId: id } });
    }
    return gate;
  }

  /**
   * Applies one event from the transition table. Throws `ERR_DEADLINE_PASSED` (the gate is
   * now expired), `ERR_GATE_CONFLICT` (not legal from the current state) or `ERR_GATE_NOT_FOUND`.
   */
  async transition(id: string, request: TransitionRequest): Promise<TransitionResult> {
    const keys = gateKeys(id);
    const { from, to } = sourcesOf(request.event);
    const reply = await runScript(this.redis, 'transition-2', [keys.gate, keys.audit], [
      request.event,
      to,
      from.join(','),
      request.now,
      auditJson(request.audit),
      request.set ? JSON.stringify(Object.fromEntries(Object.entries(request.set).map(([k, v]) => [k, String(v)]))) : '',
      request.expectedVersion ?? '',
    ]);
    return this.interpret(id, request.event, reply);
  }

  private async interpret(id: string, event: GateEvent, reply: ScriptReply): Promise<TransitionResult> {
    const code = Number(reply[0]);
    if (code === -1) throw new CountersignError(ErrorCode.GateNotFound, `no gate ${id}`, { details: { gateId: id } });
    const gate = await this.read(id);
    if (!gate) throw new CountersignError(ErrorCode.GateNotFound, `no gate ${id}`, { details: { gateId: id } });
    switch (code) {
      case 1:
        await this.indexDeadline(gate);
        return { kind: 'moved', gate, from: String(reply[2]) as GateState };
      case 0:
        return { kind: 'noop', gate };
      case -3:
        await this.indexDeadline(gate);
        throw new CountersignError(ErrorCode.DeadlinePassed, `gate ${id} expired: its window ended`, {
          details: { gateId: id, state: gate.state },
        });
      case -5:
        throw new CountersignError(ErrorCode.GateConflict, `gate ${id} is not due to expire yet`, {
          details: { gateId: id, state: gate.state, deadline: Number(reply[2]) },
        });
      case -2:
      case -4:
      default:
        throw new CountersignError(ErrorCode.GateConflict, `cannot ${event} gate ${id}: it is ${gate.state}`, {
          details: { gateId: id, state: gate.state, event },
        });
    }
  }

  /** The gate's audit chain, oldest first. */
  async auditTrail(id: string): Promise<AuditLink[]> {
    const raw = await this.redis.lrange(gateKeys(id).audit, 0, -1);
    return raw.map((r) => JSON.parse(r) as AuditLink);
  }

  /** Reads a gate as stored, without applying deadlines. */
  async read(id: string): Promise<Gate | undefined> {
    const keys = gateKeys(id);
    const [[, fields], [, votes], [, notes]] = (await this.redis
      .multi()
      .hgetall(keys.gate)
      .hgetall(keys.votes)
      .hgetall(keys.notes)
      .exec()) as [[Error | null, Record<string, string>], [Error | null, Record<string, string>], [Error | null, Record<string, string>]];
    if (!fields || !fields.record) return undefined;
    const record = JSON.parse(fields.record) as GateRecord;
    const gate: Gate = {
      ...record,
      state: fields.state as GateState,
      version: Number(fields.version),
      updatedAt: Number(fields.updatedAt),
      votes: Object.values(votes ?? {})
        .map((v) => JSON.parse(v) as Vote)
        .sort((a, b) => a.at - b.at),
      annotations: Object.fromEntries(Object.entries(notes ?? {}).map(([k, v]) => [k, JSON.parse(v) as unknown])),
    };
    if (fields.reviewDeadline) gate.reviewDeadline = Number(fields.reviewDeadline);
    if (fields.executionDeadline) gate.executionDeadline = Number(fields.executionDeadline);
    if (fields.resolution) gate.resolution = JSON.parse(fields.resolution) as Gate['resolution'];
    return gate;
  }

  /** Attaches a fact to a gate that does not change its state (e.g. the Slack message ref). */
  async annotate(id: string, name: string, value: unknown): Promise<void> {
    await this.redis.hset(gateKeys(id).notes, name, JSON.stringify(value));
  }

  private async index(id: string, agentId: string, createdAt: number): Promise<void> {
    await this.redis.zadd(agentIndexKey(agentId), createdAt, id);
  }

  /** Keeps the sweeper's deadline index in step with the gate (best effort: the scripts are the authority). */
  private async indexDeadline(gate: Gate): Promise<void> {
    const deadline = activeDeadline(gate);
    if (deadline === undefined) await this.redis.zrem(DEADLINE_INDEX, gate.id);
    else await this.redis.zadd(DEADLINE_INDEX, deadline, gate.id);
  }
}

/** Audit entries are stored as canonical JSON so verifiers can re-derive their bytes. */
function auditJson(entry: AuditEntry): string {
  return canonicalJson(entry);
}
