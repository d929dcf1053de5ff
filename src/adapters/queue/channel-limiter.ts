import type { Redis } from 'ioredis';
import { channelKeys } from './names.js';

/**
 * Gives a write the channel's next posting slot: 0 when it may post now, else the epoch ms of
 * its own slot. The slot is remembered as the write's ticket, so each waiting write wakes once,
 * at its turn, instead of every waiting write waking at the same next slot and all but one
 * going back to sleep. A hold (a 429) cancels the ticket: the write queues again when it ends.
 *   KEYS[1] next   KEYS[2] hold   KEYS[3] tickets
 *   ARGV[1] now (ms)   ARGV[2] spacing (ms)   ARGV[3] the write's id
 */
const RESERVE = `
local now, spacing, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
if held > now then
  redis.call('HDEL', KEYS[3], id)
  return held
end
local ticket = tonumber(redis.call('HGET', KEYS[3], id) or '0')
if ticket > 0 then
  if ticket > now then return ticket end
  redis.call('HDEL', KEYS[3], id)
  return 0
end
local at = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
redis.call('SET', KEYS[1], at + spacing, 'PX', at + spacing - now + 60000)
if at <= now then return 0 end
redis.call('HSET', KEYS[3], id, at)
redis.call('PEXPIRE', KEYS[3], at - now + 60000)
return at`;

/**
 * Holds the channel until `until` (a 429's Retry-After), unless it is held longer already;
 * returns when it opens.   KEYS[1] hold   ARGV[1] until (ms)   ARGV[2] now (ms)
 */
const HOLD = `
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
local untilAt, now = tonumber(ARGV[1]), tonumber(ARGV[2])
if untilAt > held then
  redis.call('SET', KEYS[1], untilAt, 'PX', untilAt - now + 60000)
  return untilAt
end
return held`;

type LimiterRedis = Redis & {
  csReserveChannel(next: string, hold: string, tickets: string, now: number, spacing: number, id: string): Promise<number>;
  csHoldChannel(hold: string, until: number, now: number): Promise<number>;
};

/**
 * Per-channel pacing of Slack writes. chat.postMessage allows about one message per second
 * per channel, so posts take a slot each; updates and ephemerals are limited per workspace,
 * not per channel, so they only respect holds. A 429 holds only its own channel for its
 * Retry-After: other channels keep going, and no client-wide queue is paused.
 */
export class ChannelLimiter {
  private readonly redis: LimiterRedis;

  constructor(
    redis: Redis,
    private readonly spacingMs: number,
  ) {
    if (typeof (redis as unknown as Partial<LimiterRedis>).csReserveChannel !== 'function') {
      redis.defineCommand('csReserveChannel', { numberOfKeys: 3, lua: RESERVE });
      redis.defineCommand('csHoldChannel', { numberOfKeys: 1, lua: HOLD });
    }
    this.redis = redis as LimiterRedis;
  }

  /**
   * For a post: 0 when the write `id` may post to `channel` now (the slot is taken), else the
   * time of its slot (or of the end of a hold), when it should ask again with the same id.
   */
  async reserve(channel: string, id: string, now: number = Date.now()): Promise<number> {
    const keys = channelKeys(channel);
    return Number(await this.redis.csReserveChannel(keys.next, keys.hold, keys.tickets, now, this.spacingMs, id));
  }

  /** For other writes: 0 when the channel is not held, else when the hold ends. */
  async heldUntil(channel: string, now: number = Date.now()): Promise<number> {
    const held = Number((await this.redis.get(channelKeys(channel).hold)) ?? 0);
    return held > now ? held : 0;
  }

  /** Keeps the channel closed until `until`; returns when it opens. */
  async hold(channel: string, until: number, now: number = Date.now()): Promise<number> {
    return Number(await this.redis.csHoldChannel(channelKeys(channel).hold, Math.ceil(until), now));
  }
}
