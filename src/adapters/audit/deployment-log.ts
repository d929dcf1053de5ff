import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { GateChange, GateObserver } from '../../app/ports.js';
import type { AuditLink } from '../../core/audit-chain.js';
import type { Gate } from '../../core/gate.js';
import { exactJson } from '../../core/evidence-hash.js';
import { RecentMap } from '../../core/recent-map.js';
import { gateKeys } from '../redis/keys.js';
import { defineScripts, runScript } from '../redis/scripts.js';
import { nextRecord, type ChainHead, type DeploymentRecord } from './deployment-chain.js';
import { AUDIT_KEYS } from './keys.js';

/** What an admin action records: who, which command, with which arguments, and how it ended. */
export interface AdminAuditEntry {
  event: string;
  actor: string;
  at: number;
  [key: string]: unknown;
}

const MAX_TRIES = 50;
/** Most gates copied in one append. */
const BATCH = 200;
/** How long a change waits for others to share its copy (ms). */
const GATHER_MS = 20;
/** Copy watermarks remembered in this process (a hint: the append script checks each one). */
const MAX_HINTS = 20_000;
/** After a failed copy, the gates are tried again after this long, doubling up to the last. */
const RETRY_MS = [500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000];

/** What one append writes: records built on `head`, and the copy watermarks they move. */
interface Plan {
  records: DeploymentRecord[];
  /** Gate id → [watermark read, new watermark]. */
  marks: Map<string, [number, number]>;
}

/**
 * Appends to the deployment-wide chain. As a gate observer it copies, after every change, every
 * link of that gate's chain not copied yet — so a change that no observer heard of (a deadline
 * applied on read) is caught up with the gate's next change, and nothing is copied twice.
 *
 * An append is one script (see scripts/audit-append-3.lua) that writes only if the chain's head
 * and each copied gate's watermark are still what the records were built on; otherwise it is
 * built again on what changed. So replicas that append at the same time never fork the chain, no
 * connection is held in WATCH, and every key it writes shares one slot. This process remembers
 * the head and watermarks it wrote last, so a copy usually takes one read (the new links) and
 * one write. Appends run one at a time in this process.
 */
export class DeploymentAuditLog implements GateObserver {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly waiting = new Set<string>();
  private draining: Promise<void> | undefined;
  private gathering: NodeJS.Timeout | undefined;
  /** The head as stored after this process's last append or read ('' for an empty chain). */
  private head: string | undefined;
  /** Gate id → how far its chain is copied, as this process last wrote or read it (about the latest MAX_HINTS). */
  private readonly copied = new RecentMap<string, number>(MAX_HINTS);
  /**
   * Gate id → its whole chain as its creation stored it, for a new gate whose copy waits: it is
   * copied from here instead of being read back. Dropped as soon as anything else happens to the
   * gate (its chain may then be longer), which sends it the reading way.
   */
  private readonly created = new Map<string, readonly AuditLink[]>();
  /** Gates whose copy failed: how often in a row, and not before when to try again. */
  private readonly backoff = new Map<string, { failures: number; until: number }>();
  private retrying: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly deps: { now: () => number; logger?: Logger; gatherMs?: number },
  ) {
    defineScripts(redis);
  }

  /**
   * Queues the copy and returns at once: the gate's own chain already holds the entry (it is the
   * authority), so the request that changed the gate does not wait for the deployment chain.
   * Changes within a few milliseconds of each other, and those made while a copy runs, are
   * copied together (one read and one append for all of them).
   */
  gateChanged(change: GateChange): void {
    const id = change.gate.id;
    const whole = change.event === 'create' && change.links?.[0]?.seq === 1 && !this.waiting.has(id) && !this.copied.has(id);
    if (whole) this.created.set(id, change.links!);
    else this.created.delete(id);
    this.queueCopy(id);
  }

  /** A link no change announced (a grant handed out again): copied like any other. */
  linkAppended(gate: Gate): void {
    this.created.delete(gate.id);
    this.queueCopy(gate.id);
  }

  private queueCopy(gateId: string): void {
    this.waiting.add(gateId);
    if (this.draining || this.gathering) return;
    const gatherMs = this.deps.gatherMs ?? GATHER_MS;
    if (gatherMs <= 0) return this.drain();
    this.gathering = setTimeout(() => this.drain(), gatherMs);
    this.gathering.unref();
  }

  /** Resolves when every copy and record queued so far is written, but for gates waiting to be tried again after a failure. */
  async flush(): Promise<void> {
    if (this.gathering || this.retrying) this.drain();
    while (this.draining) await this.draining;
    await this.queue;
  }

  private drain(): void {
    clearTimeout(this.gathering);
    this.gathering = undefined;
    clearTimeout(this.retrying);
    this.retrying = undefined;
    if (this.draining) return;
    this.draining = (async () => {
      for (;;) {
        const now = Date.now();
        const batch = [...this.waiting].filter((id) => (this.backoff.get(id)?.until ?? 0) <= now).slice(0, BATCH);
        if (batch.length === 0) break;
        for (const id of batch) this.waiting.delete(id);
        try {
          await this.copyGates(batch);
          for (const id of batch) this.backoff.delete(id);
        } catch (err) {
          // Gate by gate, so that one gate whose chain cannot be read does not hold up the others.
          if (batch.length === 1) this.failed(batch[0]!, err);
          else {
            for (const id of batch) {
              await this.copyGates([id]).then(
                () => this.backoff.delete(id),
                (one: unknown) => this.failed(id, one),
              );
            }
          }
        }
      }
    })().finally(() => {
      this.draining = undefined;
      if (this.waiting.size === 0) return;
      // What waits is either due now (a change that came while this copy was ending) or backing off.
      const due = Math.min(...[...this.waiting].map((id) => this.backoff.get(id)?.until ?? 0));
      const delay = due - Date.now();
      if (delay <= 0) return this.drain();
      this.retrying = setTimeout(() => this.drain(), delay);
      this.retrying.unref();
    });
  }

  /**
   * A gate that could not be copied waits, longer after each failure, and is tried again: a
   * finished gate changes no more, so its last links would stay uncopied (and could be cut
   * unnoticed) if nothing tried again.
   */
  private failed(gateId: string, err: unknown): void {
    this.created.delete(gateId);
    const failures = (this.backoff.get(gateId)?.failures ?? 0) + 1;
    const delay = RETRY_MS[Math.min(failures - 1, RETRY_MS.length - 1)]!;
    this.backoff.set(gateId, { failures, until: Date.now() + delay });
    this.waiting.add(gateId);
    this.deps.logger?.warn({ err, gateId, failures, retryInMs: delay }, 'could not copy a gate to the deployment audit chain; trying again');
  }

  /**
   * Copies the gate's links that the deployment chain does not hold yet; returns how many.
   * `fresh` reads how far it was copied from Redis rather than from this process's memory (which
   * is ahead of Redis when Redis lost its last writes).
   */
  copyGate(gateId: string, options: { fresh?: boolean } = {}): Promise<number> {
    return this.copyGates([gateId], options);
  }

  /** Copies the uncopied links of several gates in one append. */
  copyGates(gateIds: string[], options: { fresh?: boolean } = {}): Promise<number> {
    return this.serial(async () => {
      if (options.fresh) for (const id of gateIds) this.copied.delete(id);
      let pending = await this.uncopied(gateIds);
      return this.append((head) => {
        const now = this.deps.now();
        const records: DeploymentRecord[] = [];
        const marks = new Map<string, [number, number]>();
        let last = head;
        for (const { gateId, from, links, handed } of pending) {
          if (links.length === 0) continue;
          for (const link of links) {
            // A link its creation handed over was digested in this process; one read back from
            // Redis is digested again, so the copy never vouches for bytes it did not hash.
            const digest = handed ? link.digest : undefined;
            const record = nextRecord(last, { kind: 'gate', gateId, seq: link.seq, gateHash: link.hash, entry: link.entry, digest, loggedAt: now });
            records.push(record);
            last = { pos: record.pos, hash: record.hash };
          }
          marks.set(gateId, [from, links[links.length - 1]!.seq]);
        }
        return { records, marks };
      }, async (stale) => {
        // Another appender copied this gate meanwhile: read how far, and what is left.
        this.copied.delete(stale);
        this.created.delete(stale);
        pending = await this.uncopied(gateIds);
      });
    });
  }

  /** Records an admin action (or any event that belongs to no gate). */
  admin(entry: AdminAuditEntry): Promise<DeploymentRecord> {
    return this.serial(async () => {
      let made: DeploymentRecord | undefined;
      const appended = await this.append((head) => {
        made = nextRecord(head, { kind: 'admin', entry: exactJson(entry), loggedAt: this.deps.now() });
        return { records: [made], marks: new Map() };
      });
      if (appended === 0 || !made) throw new Error('the admin action could not be recorded in the audit chain');
      return made;
    });
  }

  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    this.created.clear();
    clearTimeout(this.retrying);
    this.retrying = undefined;
    if (this.waiting.size > 0) this.deps.logger?.warn({ gates: this.waiting.size }, 'closing with gates not copied to the deployment audit chain; their next change, or the retention pass, copies them');
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Each gate's links past its watermark, in one round trip: from the remembered watermark, or
   * (for a gate this process has not copied) the whole chain cut at the stored watermark. A new
   * gate whose creation handed over its chain is not read: its watermark is 0 unless another
   * replica copied it, which the append script notices (and then it is read).
   */
  private async uncopied(gateIds: string[]): Promise<Array<{ gateId: string; from: number; links: AuditLink[]; handed?: true }>> {
    const handed = new Map<string, readonly AuditLink[]>();
    for (const id of gateIds) {
      const links = this.created.get(id);
      if (links && !this.copied.has(id)) handed.set(id, links);
      this.created.delete(id);
    }
    const toRead = handed.size === 0 ? gateIds : gateIds.filter((id) => !handed.has(id));
    const unknown = toRead.filter((id) => !this.copied.has(id));
    const [stored, lists] = await Promise.all([
      unknown.length > 0 ? this.redis.hmget(AUDIT_KEYS.copied, ...unknown) : Promise.resolve([]),
      Promise.all(toRead.map((id) => this.redis.lrange(gateKeys(id).audit, this.copied.get(id) ?? 0, -1))),
    ]);
    const storedOf = new Map(unknown.map((id, i) => [id, Number(stored[i] ?? '0')]));
    const read = new Map(toRead.map((id, i) => [id, lists[i] ?? []]));
    return gateIds.map((gateId) => {
      const links = handed.get(gateId);
      if (links) return { gateId, from: 0, links: [...links], handed: true };
      const hinted = this.copied.get(gateId);
      const from = hinted ?? storedOf.get(gateId) ?? 0;
      const list = read.get(gateId) ?? [];
      const texts = hinted === undefined ? list.slice(from) : list;
      return { gateId, from, links: texts.map((text) => JSON.parse(text) as AuditLink) };
    });
  }

  /**
   * Builds the records on the head, appends them with the script, and builds again when the head
   * moved (or, through `stale`, when a gate's watermark did) before they landed.
   */
  private async append(build: (head: ChainHead | undefined) => Plan, stale?: (gateId: string) => Promise<void>): Promise<number> {
    for (let attempt = 0; attempt < MAX_TRIES; attempt += 1) {
      const headText = this.head ?? (this.head = (await this.redis.get(AUDIT_KEYS.head)) ?? '');
      const plan = build(headText ? (JSON.parse(headText) as ChainHead) : undefined);
      if (plan.records.length === 0) return 0;
      const last = plan.records[plan.records.length - 1]!;
      const newHead = JSON.stringify({ pos: last.pos, hash: last.hash });
      const marks = [...plan.marks].flatMap(([id, [was, now]]) => [id, was, now]);
      const reply = await runScript(this.redis, 'audit-append-3', [AUDIT_KEYS.log, AUDIT_KEYS.head, AUDIT_KEYS.copied], [
        headText,
        newHead,
        plan.marks.size,
        ...marks,
        ...plan.records.map((r) => JSON.stringify(r)),
      ]);
      if (reply[0] === 1) {
        this.head = newHead;
        for (const [id, [, now]] of plan.marks) this.remember(id, now);
        return plan.records.length;
      }
      if (reply[0] === 0) {
        // Another replica appended first: build on its head.
        this.head = String(reply[1] ?? '');
      } else {
        const gateId = String(reply[1]);
        if (!stale) throw new Error(`the copy watermark of ${gateId} moved under an append that copies no gate`);
        await stale(gateId);
      }
    }
    this.head = undefined;
    this.deps.logger?.error('the deployment audit chain stayed contended; giving up this append (the next change catches up)');
    return 0;
  }

  private remember(gateId: string, seq: number): void {
    this.copied.set(gateId, seq);
  }
}
