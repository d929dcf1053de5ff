import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { GateChange, GateObserver } from '../../app/ports.js';
import type { AuditLink } from '../../core/audit-chain.js';
import { canonicalJson } from '../../core/evidence-hash.js';
import { gateKeys } from '../redis/keys.js';
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
/** Most gates copied in one transaction. */
const BATCH = 200;

/**
 * Appends to the deployment-wide chain. As a gate observer it copies, after every change, every
 * link of that gate's chain not copied yet — so a change that no observer heard of (a deadline
 * applied on read) is caught up with the gate's next change, and nothing is copied twice.
 *
 * Appends are optimistic transactions (WATCH on the chain): processes that append at the same
 * time retry instead of forking the chain. They run on a dedicated connection, one at a time in
 * this process, because WATCH belongs to a connection.
 */
export class DeploymentAuditLog implements GateObserver {
  private readonly redis: Redis;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly waiting = new Set<string>();
  private draining: Promise<void> | undefined;

  constructor(
    redis: Redis,
    private readonly deps: { now: () => number; logger?: Logger },
  ) {
    this.redis = redis.duplicate({ enableAutoPipelining: false, maxRetriesPerRequest: 3 });
  }

  /**
   * Queues the copy and returns at once: the gate's own chain already holds the entry (it is the
   * authority), so the request that changed the gate does not wait for the deployment chain.
   * Gates changed while a copy runs are copied together in the next one (one transaction).
   */
  gateChanged(change: GateChange): void {
    this.waiting.add(change.gate.id);
    this.drain();
  }

  /** Resolves when every copy and record queued so far is written. */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
    await this.queue;
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = (async () => {
      while (this.waiting.size > 0) {
        const batch = [...this.waiting].slice(0, BATCH);
        for (const id of batch) this.waiting.delete(id);
        await this.copyGates(batch).catch((err: unknown) =>
          this.deps.logger?.warn({ err, gates: batch.length }, 'could not copy to the deployment audit chain; the next change of each gate catches up'),
        );
      }
    })().finally(() => {
      this.draining = undefined;
    });
  }

  /** Copies the gate's links that the deployment chain does not hold yet; returns how many. */
  copyGate(gateId: string): Promise<number> {
    return this.copyGates([gateId]);
  }

  /** Copies the uncopied links of several gates in one append. */
  copyGates(gateIds: string[]): Promise<number> {
    return this.serial(() =>
      this.appendWith(async (head) => {
        const copied = await this.redis.hmget(AUDIT_KEYS.copied, ...gateIds);
        const reads = this.redis.pipeline();
        gateIds.forEach((id, i) => reads.lrange(gateKeys(id).audit, Number(copied[i] ?? '0'), -1));
        const lists = ((await reads.exec()) ?? []).map(([err, value]) => (err ? [] : (value as string[])));
        const now = this.deps.now();
        const records: DeploymentRecord[] = [];
        const upTo: Record<string, number> = {};
        let last = head;
        gateIds.forEach((gateId, i) => {
          for (const text of lists[i] ?? []) {
            const link = JSON.parse(text) as AuditLink;
            const record = nextRecord(last, { kind: 'gate', gateId, seq: link.seq, gateHash: link.hash, entry: link.entry, loggedAt: now });
            records.push(record);
            last = { pos: record.pos, hash: record.hash };
            upTo[gateId] = link.seq;
          }
        });
        return records.length === 0 ? undefined : { records, copied: upTo };
      }),
    );
  }

  /** Records an admin action (or any event that belongs to no gate). */
  admin(entry: AdminAuditEntry): Promise<DeploymentRecord> {
    return this.serial(async () => {
      let made: DeploymentRecord | undefined;
      const appended = await this.appendWith(async (head) => {
        made = nextRecord(head, { kind: 'admin', entry: canonicalJson(entry), loggedAt: this.deps.now() });
        return { records: [made] };
      });
      if (appended === 0 || !made) throw new Error('the admin action could not be recorded in the audit chain');
      return made;
    });
  }

  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** WATCH the head, build the records, MULTI/EXEC; again when another process appended first. */
  private async appendWith(build: (head: ChainHead | undefined) => Promise<{ records: DeploymentRecord[]; copied?: Record<string, number> } | undefined>): Promise<number> {
    for (let attempt = 0; attempt < MAX_TRIES; attempt += 1) {
      await this.redis.watch(AUDIT_KEYS.head);
      const rawHead = await this.redis.get(AUDIT_KEYS.head);
      const head = rawHead ? (JSON.parse(rawHead) as ChainHead) : undefined;
      let plan;
      try {
        plan = await build(head);
      } catch (err) {
        await this.redis.unwatch();
        throw err;
      }
      if (!plan || plan.records.length === 0) {
        await this.redis.unwatch();
        return 0;
      }
      const last = plan.records[plan.records.length - 1]!;
      const tx = this.redis.multi().rpush(AUDIT_KEYS.log, ...plan.records.map((r) => JSON.stringify(r)));
      tx.set(AUDIT_KEYS.head, JSON.stringify({ pos: last.pos, hash: last.hash }));
      if (plan.copied && Object.keys(plan.copied).length > 0) tx.hset(AUDIT_KEYS.copied, plan.copied);
      const result = await tx.exec();
      if (result !== null) return plan.records.length;
      // Someone else appended in between: read the new head and build again.
    }
    this.deps.logger?.error('the deployment audit chain stayed contended; giving up this append (the next change catches up)');
    return 0;
  }
}
