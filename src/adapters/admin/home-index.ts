import type { Redis } from 'ioredis';
import type { GateChange, GateObserver } from '../../app/ports.js';
import { awaitingIndexKey, DEADLINE_INDEX, gateKeys, requesterIndexKey } from '../redis/keys.js';

/** Most candidates looked at when listing pending reviews (soonest deadline first). */
const PENDING_SCAN = 5_000;

/**
 * Gates waiting for review, soonest deadline first, among the first `PENDING_SCAN` entries of
 * the store's deadline index (each checked against its gate's state).
 */
export async function pendingReviewIds(redis: Redis): Promise<string[]> {
  return idsInState(redis, (state) => state === 'pending_review');
}

/**
 * Gates whose reviewers still matter: waiting for review (they may vote) or approved and not
 * yet redeemed (redeem counts only approvals of people still among the reviewers).
 */
export async function reviewedOpenIds(redis: Redis): Promise<string[]> {
  return idsInState(redis, (state) => state === 'pending_review' || state === 'approved');
}

async function idsInState(redis: Redis, wanted: (state: string | null) => boolean): Promise<string[]> {
  const candidates = await redis.zrange(DEADLINE_INDEX, 0, PENDING_SCAN - 1);
  if (candidates.length === 0) return [];
  const tx = redis.pipeline();
  for (const id of candidates) tx.hget(gateKeys(id).gate, 'state');
  const states = ((await tx.exec()) ?? []).map(([, v]) => v as string | null);
  return candidates.filter((_, i) => wanted(states[i] ?? null));
}

/** Candidates checked per round when listing one reviewer's queue. */
const AWAITING_PAGE = 32;

/**
 * Lookups for App Home and `/countersign pending`. A person's recent requests come from the
 * requester index the store writes with each new gate.
 *
 * All pending reviews (the admin list) come from the store's own deadline index, checked
 * against each gate's state at read time. One reviewer's queue (App Home, refreshed after each
 * of their votes) comes from their awaiting index: the store adds a gate for each reviewer when
 * it records them, this observer removes it when the person votes or the gate leaves review,
 * and a read drops what is past its deadline and checks the gates it shows against Redis. So a
 * Home refresh costs a few commands, not a look at every waiting gate.
 */
export class HomeIndex implements GateObserver {
  constructor(private readonly redis: Redis) {}

  async gateChanged(change: GateChange): Promise<void> {
    const gate = change.gate;
    if (change.from === 'pending_review' && gate.state !== 'pending_review') {
      // Decided, expired or cancelled: out of every reviewer's queue.
      const reviewers = await this.redis.hkeys(gateKeys(gate.id).reviewers);
      if (reviewers.length === 0) return;
      const tx = this.redis.pipeline();
      for (const user of reviewers) tx.zrem(awaitingIndexKey(user), gate.id);
      await tx.exec();
    } else if (change.event === 'vote' && change.actor.startsWith('slack:')) {
      await this.redis.zrem(awaitingIndexKey(change.actor.slice('slack:'.length)), gate.id);
    }
  }

  /** Gate ids requested for this person, newest first. */
  async recentRequests(email: string, limit = 10): Promise<string[]> {
    return this.redis.zrevrange(requesterIndexKey(email), 0, limit - 1);
  }

  /**
   * Gates waiting for review, soonest deadline first; with `reviewer`, only those this Slack
   * user may vote on and has not voted on yet. Without `reviewer`, `total` counts every match
   * among the candidates looked at; with it, every gate left in their queue.
   */
  async pending(options: { reviewer?: string; limit: number }): Promise<{ ids: string[]; total: number }> {
    if (options.reviewer) return this.awaiting(options.reviewer, options.limit);
    const matches = await pendingReviewIds(this.redis);
    return { ids: matches.slice(0, options.limit), total: matches.length };
  }

  /**
   * One reviewer's queue: the first `limit` gates of their awaiting index that are still
   * theirs to vote on (anything else found on the way is dropped from the index), and how many
   * the index holds after that.
   */
  private async awaiting(reviewer: string, limit: number): Promise<{ ids: string[]; total: number }> {
    const key = awaitingIndexKey(reviewer);
    await this.redis.zremrangebyscore(key, '-inf', `(${Date.now()}`);
    const ids: string[] = [];
    let offset = 0;
    for (;;) {
      const candidates = await this.redis.zrange(key, offset, offset + AWAITING_PAGE - 1);
      if (candidates.length === 0) break;
      const tx = this.redis.pipeline();
      for (const id of candidates) {
        const keys = gateKeys(id);
        tx.hget(keys.gate, 'state').hexists(keys.reviewers, reviewer).hexists(keys.votes, reviewer);
      }
      const replies = ((await tx.exec()) ?? []).map(([, v]) => v);
      const stale: string[] = [];
      candidates.forEach((id, i) => {
        const waiting = replies[i * 3] === 'pending_review' && replies[i * 3 + 1] === 1 && replies[i * 3 + 2] === 0;
        if (!waiting) stale.push(id);
        else if (ids.length < limit) ids.push(id);
      });
      if (stale.length > 0) await this.redis.zrem(key, ...stale);
      offset += candidates.length - stale.length;
      if (ids.length >= limit || candidates.length < AWAITING_PAGE) break;
    }
    return { ids, total: await this.redis.zcard(key) };
  }
}
