import type { Redis } from 'ioredis';
import type { GateChange, GateObserver } from '../../app/ports.js';
import { DEADLINE_INDEX, gateKeys } from '../redis/keys.js';

/** Gates requested on behalf of one person (lowercase email), newest last. */
export const requesterIndexKey = (email: string) => `cs:idx:requester:${email.toLowerCase()}`;

const KEEP_PER_REQUESTER = 100;
/** Most candidates looked at when listing pending reviews (soonest deadline first). */
const PENDING_SCAN = 5_000;

/**
 * Lookups for App Home and `/countersign pending`. Pending reviews come from the store's own
 * deadline index (every waiting gate has a review deadline), checked against each gate's state
 * and resolved reviewer set at read time, so the answer is never staler than Redis. Requests
 * by person need an index of their own, kept by this observer.
 */
export class HomeIndex implements GateObserver {
  constructor(private readonly redis: Redis) {}

  async gateChanged(change: GateChange): Promise<void> {
    if (change.event !== 'create') return;
    const key = requesterIndexKey(change.gate.request.context.requester.email);
    await this.redis
      .multi()
      .zadd(key, change.gate.createdAt, change.gate.id)
      .zremrangebyrank(key, 0, -KEEP_PER_REQUESTER - 1)
      .exec();
  }

  /** Gate ids requested for this person, newest first. */
  async recentRequests(email: string, limit = 10): Promise<string[]> {
    return this.redis.zrevrange(requesterIndexKey(email), 0, limit - 1);
  }

  /**
   * Gates waiting for review, soonest deadline first; with `reviewer`, only those this Slack
   * user may vote on and has not voted on yet. `total` counts every match among the candidates
   * looked at.
   */
  async pending(options: { reviewer?: string; limit: number }): Promise<{ ids: string[]; total: number }> {
    const candidates = await this.redis.zrange(DEADLINE_INDEX, 0, PENDING_SCAN - 1);
    if (candidates.length === 0) return { ids: [], total: 0 };
    const tx = this.redis.multi();
    for (const id of candidates) {
      const keys = gateKeys(id);
      tx.hget(keys.gate, 'state');
      if (options.reviewer) tx.hexists(keys.reviewers, options.reviewer).hexists(keys.votes, options.reviewer);
    }
    const replies = ((await tx.exec()) ?? []).map(([, v]) => v);
    const step = options.reviewer ? 3 : 1;
    const matches: string[] = [];
    candidates.forEach((id, i) => {
      if (replies[i * step] !== 'pending_review') return;
      // For one reviewer: gates they may vote on and have not voted on yet.
      if (options.reviewer && (replies[i * step + 1] !== 1 || replies[i * step + 2] !== 0)) return;
      matches.push(id);
    });
    return { ids: matches.slice(0, options.limit), total: matches.length };
  }
}
