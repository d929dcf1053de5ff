import type { Redis } from 'ioredis';
import type { GateChange, GateObserver } from '../../app/ports.js';

/**
 * Shared figures per UTC day, in Redis, so that every process counts into the same place and
 * `stats`, App Home, the `/metrics` share gauge and `countersign report` agree across replicas.
 * One hash per day: field `<scope>|<counter>` where scope is `all`, `a:<action>`, `r:<rule>`
 * (observe-mode rules) or `u:<slack user>` (reviewers). Approval latencies go to a list per day.
 */

export const STATS_RETENTION_SECONDS = 400 * 86_400;
const DAY_MS = 86_400_000;

export const dayKey = (day: string) => `cs:stats:day:${day}`;
export const latencyKey = (day: string) => `cs:stats:lat:${day}`;

/** `2026-11-20` for an epoch ms time (UTC). */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The days of the window that ends with the day of `now`, oldest first. */
export function windowDays(now: number, days: number): string[] {
  return Array.from({ length: days }, (_, i) => dayOf(now - (days - 1 - i) * DAY_MS));
}

/** Counters kept per scope. */
export const COUNTERS = [
  'created',
  'allow',
  'review',
  'reject',
  'observe',
  'shadow_review',
  'shadow_reject',
  'shadow_clicks',
  /** Requests that need a human under enforce mode: the real review, or the shadow one in observe mode. */
  'enforce_review',
  'approved',
  'denied',
  'expired',
  /** Expired while waiting for review (the rest of `expired`: approved, never redeemed in time). */
  'review_expired',
  'invalidated',
  'cancelled',
  'break_glass',
  'completed',
  'failed',
  'high_risk_denied',
  'approve',
  'deny',
] as const;
export type Counter = (typeof COUNTERS)[number];
export type Counts = Record<Counter, number>;

export const emptyCounts = (): Counts => Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Counts;

/** Figures over a window, as read back. */
export interface StatsWindow {
  days: string[];
  all: Counts;
  actions: Map<string, Counts>;
  rules: Map<string, Counts>;
  reviewers: Map<string, Counts>;
  /** Human decision latencies (create → approve or deny), ms, by action. */
  latencies: Map<string, number[]>;
}

/** The state an event leads to, counted under that name. */
const OUTCOME_OF: Partial<Record<GateChange['event'], Counter>> = {
  approve: 'approved',
  deny: 'denied',
  expire: 'expired',
  invalidate: 'invalidated',
  cancel: 'cancelled',
  break_glass: 'break_glass',
  complete: 'completed',
  fail: 'failed',
};

const HIGH = new Set(['high', 'critical']);

/** What one change adds: [scope, counter, amount]. Pure, so the rules are easy to read and test. */
export function countsOf(change: GateChange, action: string): Array<[string, Counter, number]> {
  const { gate, event } = change;
  const scopes = ['all', `a:${action}`];
  const out: Array<[string, Counter, number]> = [];
  const add = (counter: Counter, n = 1, where: string[] = scopes) => where.forEach((s) => out.push([s, counter, n]));
  if (event === 'create') {
    const d = gate.decision;
    add('created');
    add(d.outcome);
    if ((d.shadow?.outcome ?? d.outcome) === 'review') add('enforce_review');
    if (d.outcome === 'reject' && HIGH.has(d.risk.level)) add('high_risk_denied');
    if (d.mode === 'observe' && d.shadow) {
      add('observe');
      const observed = d.rules.filter((r) => r.mode === 'observe' && r.outcome !== 'allow').map((r) => `r:${r.rule}`);
      if (d.shadow.outcome === 'review') {
        add('shadow_review', 1, [...scopes, ...observed]);
        add('shadow_clicks', d.shadow.review?.quorum ?? 1, [...scopes, ...observed]);
      }
      if (d.shadow.outcome === 'reject') add('shadow_reject', 1, [...scopes, ...observed]);
    }
    return out;
  }
  if (event === 'vote') return out;
  const counter = OUTCOME_OF[event];
  if (counter) add(counter);
  if (event === 'expire' && change.from === 'pending_review') add('review_expired');
  if (event === 'deny' && HIGH.has(gate.decision.risk.level)) add('high_risk_denied');
  return out;
}

/** How long counts wait in memory before they are written (one MULTI for everything meanwhile). */
const FLUSH_EVERY_MS = 250;

/**
 * The observer that keeps the shared figures. Each person's votes are counted too (the `vote`
 * change, or the deciding one, carries the voter as actor), for their own figures on App Home.
 *
 * Counts are added up in memory and written together at most `flushEveryMs` later, so a busy
 * intake pays one MULTI per quarter second instead of one per change. A read through this
 * process (`window`) writes what is pending first; `close` does too. A process that dies loses
 * at most that last quarter second of figures (never a gate, a vote or an audit entry).
 */
export class GateStats implements GateObserver {
  private counts = new Map<string, Map<string, number>>();
  private latencies = new Map<string, string[]>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    private readonly deps: { now: () => number; actionLabel: (action: string) => string; flushEveryMs?: number; onError?: (err: unknown) => void },
  ) {}

  gateChanged(change: GateChange): void {
    const at = this.deps.now();
    const day = dayOf(at);
    let fields = this.counts.get(day);
    if (!fields) this.counts.set(day, (fields = new Map()));
    const add = (field: string, n: number) => fields.set(field, (fields.get(field) ?? 0) + n);
    for (const [scope, counter, n] of countsOf(change, this.deps.actionLabel(change.gate.request.action))) {
      if (n > 0) add(`${scope}|${counter}`, n);
    }
    const voter = votedBy(change);
    if (voter) add(`u:${voter.voter}|${voter.vote}`, 1);
    if (change.event === 'approve' || change.event === 'deny') {
      let list = this.latencies.get(day);
      if (!list) this.latencies.set(day, (list = []));
      list.push(`${this.deps.actionLabel(change.gate.request.action)}|${Math.max(0, at - change.gate.createdAt)}|${change.event}`);
    }
    this.timer ??= setTimeout(() => void this.flush().catch((err: unknown) => this.deps.onError?.(err)), this.deps.flushEveryMs ?? FLUSH_EVERY_MS).unref();
  }

  /** Writes every count added so far; resolves when they are in Redis (or rejects, keeping them for the next try). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const counts = this.counts;
    const latencies = this.latencies;
    if (counts.size === 0 && latencies.size === 0) return this.writing;
    this.counts = new Map();
    this.latencies = new Map();
    const tx = this.redis.multi();
    for (const [day, fields] of counts) {
      for (const [field, n] of fields) tx.hincrby(dayKey(day), field, n);
      tx.expire(dayKey(day), STATS_RETENTION_SECONDS);
    }
    for (const [day, list] of latencies) tx.rpush(latencyKey(day), ...list).expire(latencyKey(day), STATS_RETENTION_SECONDS);
    const write = this.writing.then(async () => {
      try {
        await tx.exec();
      } catch (err) {
        this.restore(counts, latencies);
        throw err;
      }
    });
    this.writing = write.catch(() => undefined);
    return write;
  }

  /** Figures of the `days` days that end today (including what this process has not written yet). */
  async window(days: number, now = this.deps.now()): Promise<StatsWindow> {
    await this.flush().catch(() => undefined);
    return readWindow(this.redis, windowDays(now, days));
  }

  /** Puts counts that could not be written back in front of the next write. */
  private restore(counts: Map<string, Map<string, number>>, latencies: Map<string, string[]>): void {
    for (const [day, fields] of counts) {
      let mine = this.counts.get(day);
      if (!mine) this.counts.set(day, (mine = new Map()));
      for (const [field, n] of fields) mine.set(field, (mine.get(field) ?? 0) + n);
    }
    for (const [day, list] of latencies) this.latencies.set(day, [...list, ...(this.latencies.get(day) ?? [])]);
    this.timer ??= setTimeout(() => void this.flush().catch((err: unknown) => this.deps.onError?.(err)), this.deps.flushEveryMs ?? FLUSH_EVERY_MS).unref();
  }
}

/** The vote a `vote` or deciding change recorded for its actor, if any. */
function votedBy(change: GateChange): { voter: string; vote: 'approve' | 'deny' } | undefined {
  if (!['vote', 'approve', 'deny'].includes(change.event) || !change.actor.startsWith('slack:')) return undefined;
  const id = change.actor.slice('slack:'.length);
  const vote = change.gate.votes.find((v) => v.voter === id);
  return vote ? { voter: id, vote: vote.vote } : undefined;
}

/** Reads and adds up the day hashes and latency lists of `days`. */
export async function readWindow(redis: Redis, days: string[]): Promise<StatsWindow> {
  const tx = redis.multi();
  for (const day of days) tx.hgetall(dayKey(day)).lrange(latencyKey(day), 0, -1);
  const replies = ((await tx.exec()) ?? []).map(([err, value]) => (err ? undefined : value));
  const window: StatsWindow = { days, all: emptyCounts(), actions: new Map(), rules: new Map(), reviewers: new Map(), latencies: new Map() };
  const bucket = (map: Map<string, Counts>, key: string) => {
    let counts = map.get(key);
    if (!counts) map.set(key, (counts = emptyCounts()));
    return counts;
  };
  for (let i = 0; i < replies.length; i += 2) {
    const hash = (replies[i] ?? {}) as Record<string, string>;
    for (const [field, value] of Object.entries(hash)) {
      const bar = field.lastIndexOf('|');
      const scope = field.slice(0, bar);
      const counter = field.slice(bar + 1) as Counter;
      if (!(COUNTERS as readonly string[]).includes(counter)) continue;
      const n = Number(value);
      if (scope === 'all') window.all[counter] += n;
      else if (scope.startsWith('a:')) bucket(window.actions, scope.slice(2))[counter] += n;
      else if (scope.startsWith('r:')) bucket(window.rules, scope.slice(2))[counter] += n;
      else if (scope.startsWith('u:')) bucket(window.reviewers, scope.slice(2))[counter] += n;
    }
    for (const line of (replies[i + 1] ?? []) as string[]) {
      const [action, ms] = line.split('|');
      if (!action || ms === undefined) continue;
      const list = window.latencies.get(action) ?? [];
      list.push(Number(ms));
      window.latencies.set(action, list);
    }
  }
  return window;
}

/** Median of a list (undefined when empty). */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The gate's action as a label: the catalog entry it falls under (`iam.*` for `iam.x7f3…`, so
 * an agent cannot mint label values), everything else as `unknown`.
 */
export function actionLabelFor(entryOf: (action: string) => string | undefined): (action: string) => string {
  return (action) => entryOf(action) ?? 'unknown';
}

