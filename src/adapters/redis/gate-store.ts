import type { Redis } from 'ioredis';
import { CountersignError, ErrorCode } from '../../core/errors.js';
import { GENESIS, linkHash, type AuditLink } from '../../core/audit-chain.js';
import { activeDeadline, type Gate, type Vote } from '../../core/gate.js';
import { sourcesOf, type GateEvent, type GateState } from '../../core/gate-state.js';
import { mailboxOf } from '../../core/mailbox.js';
import { awaitingIndexKey, DEADLINE_INDEX, gateKeys, requesterIndexKey } from './keys.js';
import { auditArgs, entryArgs, gateOf, recordJson, type AuditEntry, type GateReadReply, type GateRecord } from './gate-codec.js';
import { redeemArgs, redeemOutcomeKind, type AuditTail, type RedeemOutcome, type RedeemRequest } from './redeem-script.js';
import { defineScripts, runScript, type ScriptReply } from './scripts.js';

export type { AuditLink } from '../../core/audit-chain.js';
export type { AuditEntry } from './gate-codec.js';
export type { AuditTail, RedeemOutcome, RedeemRequest } from './redeem-script.js';

export interface NewGate extends GateRecord {
  /** `request` as RFC 8785 text, when the caller has it (see recordJson). */
  requestJson?: string;
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
  /** Notes (annotations) to record with the move, so that nobody sees the moved gate without them. */
  notes?: Record<string, unknown>;
  expectedVersion?: number;
}

export interface VoteInput {
  voter: string;
  voterEmail?: string;
  vote: 'approve' | 'deny';
  now: number;
  reason?: string;
}

export type VoteResult =
  | { kind: 'counted'; gate: Gate; approvals: number; teams: number }
  | { kind: 'decided'; gate: Gate };

export type TransitionResult =
  | { kind: 'moved'; gate: Gate; from: GateState }
  | { kind: 'noop'; gate: Gate };

/** See GateStore.claimExpiryAnnouncement. A gate that is gone (retired) is not recreated. */
const CLAIM_ANNOUNCEMENT = `
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'expireAnnounced') == 1 then return 0 end
local claimed = redis.call('HGET', KEYS[1], 'expireAnnouncing')
if claimed and tonumber(claimed) + tonumber(ARGV[2]) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'expireAnnouncing', ARGV[1])
return 1`;

/** A requester's index keeps about this many of their latest gates (trimmed now and then). */
const KEEP_PER_REQUESTER = 100;
const TRIM_ONE_IN = 16;

/** A reviewer's awaiting index outlives its last addition by this long (readers drop what is past due). */
const AWAITING_KEEP_SECONDS = 30 * 86_400;


/**
 * Gates in Redis. Every write is one Lua script that checks, moves and appends the audit
 * entry together; deadlines are enforced inside the scripts and on every read.
 */
export class GateStore {
  /** Listeners set at wiring (see onDeadlineApplied); shared with stores made by withConnection. */
  private hooks: { deadlineApplied?: (gate: Gate, from: GateState) => Promise<void> } = {};

  constructor(private readonly redis: Redis) {
    defineScripts(redis);
  }

  /**
   * Creates the gate unless one with this id exists. Returns the gate either way and, when it
   * created it, the chain's first link exactly as stored.
   */
  async create(input: NewGate): Promise<{ created: true; gate: Gate; link: AuditLink } | { created: false; gate: Gate }> {
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
    const audit = entryArgs(input.audit);
    // Everything about a new gate is known here: no read-back needed.
    const fresh: Gate = {
      ...record,
      state: input.state,
      version: 1,
      updatedAt: input.createdAt,
      votes: [],
      annotations: {},
      ...(input.reviewDeadline !== undefined ? { reviewDeadline: input.reviewDeadline } : {}),
      ...(input.executionDeadline !== undefined ? { executionDeadline: input.executionDeadline } : {}),
    };
    // The first link's inputs are all known here (see create-gate-2.lua), so is the link.
    const link: AuditLink = { seq: 1, prev: GENESIS, hash: '', digest: audit[1], from: '', to: input.state, entry: audit[0] };
    link.hash = linkHash(link);
    const written = runScript(this.redis, 'create-gate-2', [keys.gate, keys.audit], [
      recordJson(record, input.requestJson),
      input.state,
      input.createdAt,
      input.reviewDeadline ?? '',
      input.executionDeadline ?? '',
      ...audit,
      link.hash,
    ]);
    // The index entries travel in the same round trip, behind the script (one connection runs
    // them in order, so they never name a gate that is not there yet). NX: a create that finds
    // the gate already there leaves its entries alone; an entry whose gate never came to be is
    // dropped by its readers (the sweeper, App Home).
    const deadline = activeDeadline(fresh);
    const requesterIndex = requesterIndexKey(input.request.context.requester.email);
    const indexed = Promise.all([
      deadline === undefined ? undefined : this.redis.zadd(DEADLINE_INDEX, 'NX', deadline, input.id),
      this.redis.zadd(requesterIndex, 'NX', input.createdAt, input.id),
      // Trimmed now and then rather than on every create.
      Math.random() < 1 / TRIM_ONE_IN ? this.redis.zremrangebyrank(requesterIndex, 0, -KEEP_PER_REQUESTER - 1) : undefined,
    ]);
    const [reply] = await Promise.all([written, indexed]);
    if (reply[0] === 1) return { created: true, gate: fresh, link };
    const gate = await this.read(input.id);
    if (!gate) throw new CountersignError(ErrorCode.StoreUnavailable, `gate ${input.id} vanished after create`);
    return { created: false, gate };
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
    if (gate && reply[0] === 1) {
      await this.indexDeadline(gate);
      // This read expired the gate: nobody else will (its deadline left the index), so tell.
      await this.hooks.deadlineApplied?.(gate, String(reply[1]) as GateState);
    }
    return gate;
  }

  /**
   * Who hears about a gate that a read expired (a deadline enforced by `get`); set once at
   * wiring. Stores made with {@link withConnection} share it.
   */
  onDeadlineApplied(listener: (gate: Gate, from: GateState) => Promise<void>): void {
    this.hooks.deadlineApplied = listener;
  }

  /** The same store on another connection (same listener). */
  withConnection(redis: Redis): GateStore {
    const store = new GateStore(redis);
    store.hooks = this.hooks;
    return store;
  }

  /** True when the expiry of this gate was announced to observers already (see announceExpiry). */
  async expiryAnnounced(id: string): Promise<boolean> {
    return (await this.redis.hexists(gateKeys(id).gate, 'expireAnnounced')) === 1;
  }

  /**
   * Claims the announcement of the gate's expiry: true for one caller only, unless that one
   * did not finish within `leaseMs` (it died), when the next may take over. So a read, a timer
   * and the sweeper finding the same expiry at once announce it once, and still at least once.
   */
  async claimExpiryAnnouncement(id: string, now: number, leaseMs = 60_000): Promise<boolean> {
    const claimed = await this.redis.eval(CLAIM_ANNOUNCEMENT, 1, gateKeys(id).gate, now, leaseMs);
    return claimed === 1;
  }

  /** Records that the gate's expiry was announced. */
  async markExpiryAnnounced(id: string, at: number): Promise<void> {
    await this.redis.hset(gateKeys(id).gate, 'expireAnnounced', at);
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
    const notes = request.notes ? JSON.stringify(Object.fromEntries(Object.entries(request.notes).map(([k, v]) => [k, JSON.stringify(v)]))) : '';
    const reply = await runScript(this.redis, 'transition-3', [keys.gate, keys.audit, keys.notes], [
      request.event,
      to,
      from.join(','),
      request.now,
      ...auditArgs(request.audit, request.set ? JSON.stringify(Object.fromEntries(Object.entries(request.set).map(([k, v]) => [k, String(v)]))) : '', request.expectedVersion ?? ''),
      notes,
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

  /**
   * Casts a reviewer's vote under every dual-control rule (DESIGN.md, "Dual control"), atomically.
   * Refusals throw with the reason's code: `ERR_SELF_APPROVAL`, `ERR_OWNER_APPROVAL`,
   * `ERR_NOT_A_REVIEWER`, `ERR_ALREADY_VOTED`, `ERR_DEADLINE_PASSED`, `ERR_GATE_NOT_PENDING`.
   */
  async vote(id: string, input: VoteInput): Promise<VoteResult> {
    const gate = await this.read(id);
    if (!gate) throw new CountersignError(ErrorCode.GateNotFound, `no gate ${id}`, { details: { gateId: id } });
    const review = gate.decision.review ?? gate.decision.shadow?.review;
    const ownerId = review?.excludeAgentOwner ? (gate.decision.agentOwner ?? '') : '';
    // Owners are Slack user ids (compared as is) or emails (compared as mailboxes).
    const owner = ownerId.includes('@') ? mailboxOf(ownerId) : ownerId;
    const keys = gateKeys(id);
    const reply = await runScript(this.redis, 'vote-5', [keys.gate, keys.audit, keys.votes, keys.reviewers, keys.notes], [
      input.voter,
      input.voterEmail ? mailboxOf(input.voterEmail) : '',
      input.vote,
      input.now,
      input.reason ?? '',
      mailboxOf(gate.request.context.requester.email),
      owner,
      review?.quorum ?? 1,
      review?.distinctTeams ?? 0,
      gate.decision.executionWindowSeconds * 1000,
      gate.request.context.requester.slackUserId ?? '',
    ]);
    const code = Number(reply[0]);
    const details = { gateId: id, voter: input.voter };
    switch (code) {
      case 1:
        return { kind: 'counted', gate: (await this.read(id))!, approvals: Number(reply[1]), teams: Number(reply[2]) };
      case 2: {
        const decided = (await this.read(id))!;
        await this.indexDeadline(decided);
        return { kind: 'decided', gate: decided };
      }
      case -1:
        throw new CountersignError(ErrorCode.GateNotFound, `no gate ${id}`, { details });
      case -2:
        throw new CountersignError(ErrorCode.GateNotPending, `this request is ${String(reply[1])}; votes are closed`, {
          details: { ...details, state: String(reply[1]) },
        });
      case -3:
        await this.indexDeadline((await this.read(id))!);
        throw new CountersignError(ErrorCode.DeadlinePassed, 'the review window has ended; the request expired', {
          details: { ...details, state: 'expired' },
        });
      case -10:
        throw new CountersignError(ErrorCode.NotAReviewer, 'you are not in the reviewer set for this request', { details });
      case -11:
        throw new CountersignError(ErrorCode.SelfApproval, 'you requested this action, so you cannot review it', { details });
      case -14:
        throw new CountersignError(
          ErrorCode.SelfApproval,
          "your email could not be read from Slack, so it cannot be checked that you are neither the requester nor the agent's owner; try again",
          { details: { ...details, identity: 'unknown' } },
        );
      case -12:
        throw new CountersignError(ErrorCode.OwnerApproval, "you own the agent that asked, and this policy excludes the agent's owner", { details });
      case -13: {
        const previous = JSON.parse(String(reply[1])) as Vote;
        throw new CountersignError(ErrorCode.AlreadyVoted, `you already voted (${previous.vote}); each person counts once`, {
          details: { ...details, previous: previous.vote },
        });
      }
      default:
        throw new CountersignError(ErrorCode.Internal, `vote script answered ${code}`);
    }
  }

  /** A gate as stored and its audit chain's tail, read together in one step. */
  async readForRedeem(id: string): Promise<{ gate: Gate | undefined; auditTail: AuditTail | undefined; reviewers: Map<string, string> }> {
    const reply = await this.readGate(id, true);
    const link = reply[3] ? (JSON.parse(reply[3]) as AuditLink) : undefined;
    const reviewers = new Map<string, string>();
    const flat = reply[4] ?? [];
    for (let i = 0; i + 1 < flat.length; i += 2) reviewers.set(flat[i]!, flat[i + 1]!);
    return { gate: gateOf(reply), auditTail: link ? { hash: link.hash, seq: link.seq } : undefined, reviewers };
  }

  private async readGate(id: string, withTail: boolean): Promise<GateReadReply> {
    const keys = gateKeys(id);
    return (await runScript(this.redis, 'read-gate-5', [keys.gate, keys.votes, keys.notes, keys.audit, keys.reviewers], [withTail ? 1 : 0])) as unknown as GateReadReply;
  }

  private async auditTail(id: string): Promise<AuditTail | undefined> {
    const last = await this.redis.lindex(gateKeys(id).audit, -1);
    if (!last) return undefined;
    const link = JSON.parse(last) as AuditLink;
    return { hash: link.hash, seq: link.seq };
  }

  /**
   * Redeems an approved gate in one script (redeem-3.lua): state, execution window and evidence
   * hash are checked there, and the gate moves to `redeemed` with `grant` recorded, or to
   * `invalidated` when the hash differs, or to `expired` when the window is over.
   */
  async redeem(id: string, request: RedeemRequest): Promise<RedeemOutcome> {
    const keys = gateKeys(id);
    const grant = request.grant;
    const tail = grant ? (request.auditTail ?? (await this.auditTail(id))) : undefined;
    const reply = await runScript(this.redis, 'redeem-3', [keys.gate, keys.audit, keys.notes], redeemArgs(request, tail));
    const code = Number(reply[0]);
    const kind = redeemOutcomeKind(code);
    if (code === 1 && grant && request.seen) {
      // The hot path: the script changed exactly these fields, so the answer needs no second read.
      const seen = request.seen;
      const gate: Gate = { ...seen, state: 'redeemed', version: Number(reply[1]), updatedAt: request.now, annotations: { ...seen.annotations, grant: grant.note } };
      // Best effort, as every index update: the sweeper finds a redeemed gate has nothing due.
      this.indexDeadline(gate).catch(() => undefined);
      return { kind: 'redeemed', gate };
    }
    const gate = code === -1 ? undefined : await this.read(id);
    if (!gate || !kind) {
      if (code === -1 || !gate) throw new CountersignError(ErrorCode.GateNotFound, `no gate ${id}`, { details: { gateId: id } });
      throw new CountersignError(ErrorCode.Internal, `redeem script answered ${code}`);
    }
    if (kind === 'redeemed' || kind === 'invalidated' || kind === 'expired') await this.indexDeadline(gate);
    return kind === 'redelivered' ? { kind, gate, token: String(reply[1]) } : { kind, gate };
  }

  /**
   * Records who may vote on a gate (user id → team label), resolved when it is posted. With the
   * gate's review deadline, each reviewer's awaiting index (App Home) gets the gate too, except
   * `notAwaiting`: members the vote script refuses on this gate (see nonVoters), whose queue
   * would otherwise offer buttons that can only be refused.
   */
  async setReviewers(
    id: string,
    members: ReadonlyMap<string, string | undefined>,
    reviewDeadline?: number,
    notAwaiting: ReadonlySet<string> = new Set(),
  ): Promise<void> {
    const key = gateKeys(id).reviewers;
    const flat: string[] = [];
    for (const [user, team] of members) flat.push(user, team ?? '');
    const tx = this.redis.multi().del(key);
    if (flat.length > 0) tx.hset(key, ...flat);
    await tx.exec();
    if (reviewDeadline === undefined || members.size === 0) return;
    // An index, outside the gate's hash tag: best effort, as every index (readers check the gate).
    const index = this.redis.pipeline();
    for (const user of members.keys()) {
      if (notAwaiting.has(user)) index.zrem(awaitingIndexKey(user), id);
      else index.zadd(awaitingIndexKey(user), reviewDeadline, id).expire(awaitingIndexKey(user), AWAITING_KEEP_SECONDS);
    }
    await index.exec().catch(() => undefined);
  }

  /**
   * Replaces a gate's reviewers with `members` (votes already cast stay), and takes the gate
   * out of the queues of those who are no longer among them.
   */
  async replaceReviewers(id: string, members: ReadonlyMap<string, string | undefined>, reviewDeadline?: number, notAwaiting: ReadonlySet<string> = new Set()): Promise<string[]> {
    const before = await this.redis.hkeys(gateKeys(id).reviewers);
    await this.setReviewers(id, members, reviewDeadline, notAwaiting);
    const dropped = before.filter((user) => !members.has(user));
    if (dropped.length > 0) {
      const index = this.redis.pipeline();
      for (const user of dropped) index.zrem(awaitingIndexKey(user), id);
      await index.exec().catch(() => undefined);
    }
    return dropped;
  }

  /** The resolved reviewer set of a gate (user id → team label or ''). */
  async reviewers(id: string): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.redis.hgetall(gateKeys(id).reviewers)));
  }

  /** The gate's audit chain, oldest first. */
  async auditTrail(id: string): Promise<AuditLink[]> {
    const raw = await this.redis.lrange(gateKeys(id).audit, 0, -1);
    return raw.map((r) => JSON.parse(r) as AuditLink);
  }

  /**
   * What retention checks before it retires a gate: its state, how many links its chain has and
   * the last one's hash (undefined when the gate is gone).
   */
  async chainEnd(id: string): Promise<{ state: GateState; links: number; lastHash: string } | undefined> {
    const keys = gateKeys(id);
    // One transaction: the three facts belong to the same moment.
    const replies = (await this.redis.multi().hget(keys.gate, 'state').llen(keys.audit).lindex(keys.audit, -1).exec()) ?? [];
    const [state, links, last] = replies.map(([err, value]) => {
      if (err) throw err;
      return value;
    }) as [string | null, number, string | null];
    if (!state) return undefined;
    let lastHash = '';
    try {
      lastHash = last ? String((JSON.parse(last) as { hash?: unknown }).hash ?? '') : '';
    } catch {
      lastHash = '';
    }
    return { state: state as GateState, links, lastHash };
  }

  /**
   * Deletes every key of a gate, provided it is still in one of `states`, has not moved since
   * `cutoff`, and its chain is still `expected` (see scripts/retire-gate-7.lua). The caller has
   * copied the chain elsewhere first.
   */
  async retire(
    id: string,
    expected: { links: number; lastHash: string },
    states: readonly GateState[],
    cutoff: number,
  ): Promise<'retired' | 'gone' | 'not_final' | 'changed'> {
    const keys = gateKeys(id);
    const reply = await runScript(this.redis, 'retire-gate-7', [keys.gate, keys.audit, keys.votes, keys.reviewers, keys.notes, keys.slack, keys.grantUsed], [
      expected.links,
      expected.lastHash,
      cutoff,
      ...states,
    ]);
    switch (reply[0]) {
      case 1:
        return 'retired';
      case -1:
        return 'gone';
      case -2:
        return 'not_final';
      default:
        return 'changed';
    }
  }

  /** Reads a gate as stored, without applying deadlines. */
  async read(id: string): Promise<Gate | undefined> {
    return gateOf(await this.readGate(id, false));
  }

  /** Attaches a fact to a gate that does not change its state (e.g. the Slack message ref). */
  async annotate(id: string, name: string, value: unknown): Promise<void> {
    await this.redis.hset(gateKeys(id).notes, name, JSON.stringify(value));
  }

  /**
   * Claims a one-time fact on a gate (HSETNX): true for exactly one caller, however many
   * processes try at once. Used to make side effects such as a thread reply happen once.
   */
  async claimNote(id: string, name: string, value: unknown): Promise<boolean> {
    return (await this.redis.hsetnx(gateKeys(id).notes, name, JSON.stringify(value))) === 1;
  }

  /** Keeps the sweeper's deadline index in step with the gate (best effort: the scripts are the authority). */
  private async indexDeadline(gate: Gate): Promise<void> {
    const deadline = activeDeadline(gate);
    if (deadline === undefined) await this.redis.zrem(DEADLINE_INDEX, gate.id);
    else await this.redis.zadd(DEADLINE_INDEX, deadline, gate.id);
  }
}
