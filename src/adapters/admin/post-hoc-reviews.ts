import type { Redis } from 'ioredis';

/**
 * Reviews owed after a break-glass: who broke the glass, why, where it was announced, and the
 * reviews given so far. A break-glass needs {@link POST_HOC_REVIEWERS} distinct reviewers
 * afterwards; until then the record stays in the `open` index, scored by its next reminder.
 */
export const POST_HOC_REVIEWERS = 2;

/** A break-glass's post-hoc review record (its reviews are also in the deployment audit chain). */
export const postHocRecordKey = (gateId: string) => `cs:admin:posthoc:${gateId}`;
const recordKey = postHocRecordKey;
export const POST_HOC_OPEN = 'cs:admin:posthoc:open';

export interface PostHocReview {
  reviewer: string;
  verdict: 'ok' | 'concern';
  note: string;
  at: number;
}

export interface PostHocRecord {
  gateId: string;
  actor: string;
  justification: string;
  openedAt: number;
  action: string;
  environment: string;
  /** The security channel announcement, where reminders go (in its thread). */
  announcement?: { channel: string; ts: string };
  reviews: PostHocReview[];
  reminders: number;
}

export class PostHocReviews {
  constructor(private readonly redis: Redis) {}

  /** Opens the record; the first reminder is due at `remindAt`. */
  async open(record: Omit<PostHocRecord, 'reviews' | 'reminders'>, remindAt: number): Promise<void> {
    await this.redis
      .multi()
      .hset(recordKey(record.gateId), 'record', JSON.stringify({ ...record, reminders: 0 }))
      .zadd(POST_HOC_OPEN, remindAt, record.gateId)
      .exec();
  }

  /** Brings the next reminder forward to `at` (an announcement that failed is tried again then). */
  async remindAt(gateId: string, at: number): Promise<void> {
    await this.redis.zadd(POST_HOC_OPEN, 'XX', 'LT', at, gateId);
  }

  async setAnnouncement(gateId: string, ref: { channel: string; ts: string }): Promise<void> {
    const record = await this.get(gateId);
    if (!record) return;
    await this.redis.hset(recordKey(gateId), 'record', JSON.stringify({ ...stripReviews(record), announcement: ref }));
  }

  async get(gateId: string): Promise<PostHocRecord | undefined> {
    const hash = await this.redis.hgetall(recordKey(gateId));
    if (!hash.record) return undefined;
    const base = JSON.parse(hash.record) as PostHocRecord;
    const reviews = Object.entries(hash)
      .filter(([k]) => k.startsWith('review:'))
      .map(([, v]) => JSON.parse(v) as PostHocReview)
      .sort((a, b) => a.at - b.at);
    return { ...base, reviews, reminders: Number(hash.reminders ?? base.reminders ?? 0) };
  }

  /**
   * Records one person's review, once (a second one from the same person is refused). Returns
   * the record as it now stands; when enough reviews are in it leaves the open index.
   */
  async review(gateId: string, review: PostHocReview): Promise<{ added: boolean; record: PostHocRecord }> {
    const added = (await this.redis.hsetnx(recordKey(gateId), `review:${review.reviewer}`, JSON.stringify(review))) === 1;
    const record = (await this.get(gateId))!;
    if (record.reviews.length >= POST_HOC_REVIEWERS) await this.redis.zrem(POST_HOC_OPEN, gateId);
    return { added, record };
  }

  /** Gates whose next reminder is due. */
  async due(now: number, limit = 50): Promise<string[]> {
    return this.redis.zrangebyscore(POST_HOC_OPEN, 0, now, 'LIMIT', 0, limit);
  }

  /** Every open record's gate id, oldest reminder first. */
  async openIds(limit = 100): Promise<string[]> {
    return this.redis.zrange(POST_HOC_OPEN, 0, limit - 1);
  }

  /**
   * Claims the reminder due for `gateId` and schedules the next one at `next`: true for exactly
   * one caller, whichever process asks first (the score moves only if it is still the due one).
   */
  async claimReminder(gateId: string, now: number, next: number): Promise<boolean> {
    const score = await this.redis.zscore(POST_HOC_OPEN, gateId);
    if (score === null || Number(score) > now) return false;
    const claimed = await this.redis.set(`cs:admin:posthoc:remind:${gateId}:${score}`, '1', 'EX', 86_400, 'NX');
    if (claimed !== 'OK') return false;
    await this.redis.multi().zadd(POST_HOC_OPEN, 'XX', next, gateId).hincrby(recordKey(gateId), 'reminders', 1).exec();
    return true;
  }
}

function stripReviews(record: PostHocRecord): Omit<PostHocRecord, 'reviews'> {
  const { reviews: _reviews, ...rest } = record;
  return rest;
}
