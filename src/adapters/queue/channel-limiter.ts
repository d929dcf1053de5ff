import type { Redis } from 'ioredis';
import { channelKeys } from './names.js';

/**
 * Takes the channel's next posting slot if it is free and the channel is not held: returns 0
 * (go) or the epoch ms at which to try again.
 *   KEYS[1] next   KEYS[2] hold   ARGV[1] now (ms)   ARGV[2] spacing (ms)
 */
const RESERVE = `
local now, spacing = tonumber(ARGV[1]), tonumber(ARGV[2])
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
if held > now then return held end
local nextAt = tonumber(redis.call('GET', KEYS[1]) or '0')
if nextAt > now then return nextAt end
redis.call('SET', KEYS[1], now + spacing, 'PX', spacing + 60000)
return 0`;

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
  csReserveChannel(next: string, hold: string, now: number, spacing: number): Promise<number>;
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
      redis.defineCommand('csReserveChannel', { numberOfKeys: 2, lua: RESERVE });
      redis.defineCommand('csHoldChannel', { numberOfKeys: 1, lua: HOLD });
    }
    this.redis = redis as LimiterRedis;
  }

  /** For a post: 0 when the caller may post to `channel` now (the slot is taken), else when to try again. */
  async reserve(channel: string, now: number = Date.now()): Promise<number> {
    const keys = channelKeys(channel);
    return Number(await this.redis.csReserveChannel(keys.next, keys.hold, now, this.spacingMs));
  }

  /**
   * When the channel takes its next post (0: now), without taking the slot: a waiting write
   * looks before doing its other work again.
   */
  async opensAt(channel: string, now: number = Date.now()): Promise<number> {
    const keys = channelKeys(channel);
    const [next, held] = await Promise.all([this.redis.get(keys.next), this.redis.get(keys.hold)]);
    const opens = Math.max(Number(next ?? 0), Number(held ?? 0));
    return opens > now ? opens : 0;
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
