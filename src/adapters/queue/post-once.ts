import { ErrorCode as SlackErrorCode } from '@slack/web-api';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Message } from '../../../blocks/types.js';
import { SlackRateLimited, type MessageRef, type SlackWrites } from '../slack/slack-writes.js';
import { slackStateKey } from './names.js';

/** Metadata type on every message we post, so that we can find our own messages again. */
export const POST_EVENT_TYPE = 'countersign_gate';

export type PostOnceResult = { kind: 'posted'; ref: MessageRef } | { kind: 'wait'; until: number };

interface HistoryMessage {
  ts?: string;
  metadata?: { event_type?: string; event_payload?: Record<string, unknown> };
}

/**
 * Posts a message at most once per (gate, key), across retries, crashes and processes.
 *
 * Slack's chat.postMessage has no idempotency key, and a worker can die after Slack accepted
 * a post but before we recorded its `ts`. Every post therefore carries message metadata
 * `{gate_id, post_key}`, and a claim (the time of the attempt) is written before posting:
 * - a recorded `ts` → done, nothing is posted;
 * - a claim younger than the grace period → another attempt may still be in flight: wait;
 * - an older claim without `ts` → look for our message in the channel (or thread) history
 *   since the claim; found → record it; not found → post.
 * A definite refusal from Slack (an error answer or a 429) clears the claim, so only attempts
 * whose fate is unknown pay for the lookup. Needs the `*:history` scopes for the lookup; when
 * the lookup itself is refused we post again and say so, because a missing change record
 * (nobody can review) is worse than a duplicate one (votes on either count once).
 */
export class PostOnce {
  constructor(
    private readonly deps: { redis: Redis; writes: SlackWrites; logger: Logger; claimGraceMs: number; now?: () => number },
  ) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** The recorded message for (gate, key), if posted. */
  async recorded(gateId: string, key: string): Promise<MessageRef | undefined> {
    const raw = await this.deps.redis.hget(slackStateKey(gateId), `post:${key}`);
    return raw ? (JSON.parse(raw) as MessageRef) : undefined;
  }

  async post(gateId: string, key: string, channel: string, message: Message, threadTs?: string): Promise<PostOnceResult> {
    const { redis, writes, logger, claimGraceMs } = this.deps;
    const stateKey = slackStateKey(gateId);
    const [posted, claimed] = await redis.hmget(stateKey, `post:${key}`, `claim:${key}`);
    if (posted) return { kind: 'posted', ref: JSON.parse(posted) as MessageRef };
    if (claimed) {
      const since = Number(claimed);
      if (this.now() - since < claimGraceMs) return { kind: 'wait', until: since + claimGraceMs };
      const found = await this.lookup(gateId, key, channel, since, threadTs);
      if (found) {
        logger.info({ gateId, key, channel, ts: found.ts }, 'found the message an interrupted attempt had posted');
        await this.record(gateId, key, found);
        return { kind: 'posted', ref: found };
      }
    }
    await redis.multi().hset(stateKey, `claim:${key}`, this.now()).expire(stateKey, 30 * 86_400).exec();
    let ref: MessageRef;
    try {
      ref = await writes.post(channel, message, {
        ...(threadTs ? { threadTs } : {}),
        metadata: { event_type: POST_EVENT_TYPE, event_payload: { gate_id: gateId, post_key: key } },
      });
    } catch (err) {
      if (definitelyNotPosted(err)) await redis.hdel(stateKey, `claim:${key}`);
      throw err;
    }
    await this.record(gateId, key, ref);
    return { kind: 'posted', ref };
  }

  private async record(gateId: string, key: string, ref: MessageRef): Promise<void> {
    await this.deps.redis.hset(slackStateKey(gateId), `post:${key}`, JSON.stringify(ref));
  }

  /** Our message with this (gate, key) posted since `since`, from the channel or thread history. */
  private async lookup(gateId: string, key: string, channel: string, since: number, threadTs?: string): Promise<MessageRef | undefined> {
    const method = threadTs ? 'conversations.replies' : 'conversations.history';
    let cursor: string | undefined;
    for (let page = 0; page < 5; page += 1) {
      let res: { messages?: HistoryMessage[]; response_metadata?: { next_cursor?: string } };
      try {
        res = (await this.deps.writes.client.apiCall(method, {
          channel,
          ...(threadTs ? { ts: threadTs } : {}),
          oldest: ((since - 5_000) / 1000).toFixed(6),
          inclusive: true,
          include_all_metadata: true,
          limit: 200,
          ...(cursor ? { cursor } : {}),
        })) as typeof res;
      } catch (err) {
        const e = err as { code?: string; retryAfter?: number; data?: { error?: string } };
        if (e.code === SlackErrorCode.RateLimitedError) throw new SlackRateLimited(method, e.retryAfter ?? 1, channel);
        this.deps.logger.warn(
          { gateId, key, channel, slackError: e.data?.error ?? e.code },
          `cannot check ${method} for an interrupted post; posting again (a duplicate is possible)`,
        );
        return undefined;
      }
      const hit = (res.messages ?? []).find(
        (m) => m.metadata?.event_type === POST_EVENT_TYPE && m.metadata.event_payload?.gate_id === gateId && m.metadata.event_payload?.post_key === key,
      );
      if (hit?.ts) return { channel, ts: hit.ts };
      cursor = res.response_metadata?.next_cursor || undefined;
      if (!cursor) return undefined;
    }
    return undefined;
  }
}

/** Slack answered, and said no: nothing was posted. (A timeout or a dropped connection says nothing.) */
function definitelyNotPosted(err: unknown): boolean {
  if (err instanceof SlackRateLimited) return true;
  return (err as { code?: string }).code === SlackErrorCode.PlatformError;
}
