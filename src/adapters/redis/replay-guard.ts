import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { CountersignError, ErrorCode } from '../../core/errors.js';

/**
 * Remembers each (agent, webhook-id) pair for a while so that a captured, correctly signed
 * request cannot be sent again. A timestamp is accepted up to the tolerance in the past or in
 * the future, compared in whole seconds, so one message stays acceptable for a little over
 * 2 × tolerance (from ts − 300 until just before ts + 301 for the 5-minute tolerance): the
 * window must cover that, 2 × tolerance + 2 s (602 s). Run it only after the signature has verified, so that
 * nobody without the secret can use up another agent's ids.
 */
export class ReplayGuard {
  readonly ttlSeconds: number;

  constructor(
    private readonly redis: Redis,
    ttlSeconds = 602,
  ) {
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
      throw new CountersignError(ErrorCode.ConfigInvalid, 'replay window must be a positive whole number of seconds');
    }
    this.ttlSeconds = ttlSeconds;
  }

  /**
   * The Redis key for one message. The id is client-controlled, so it is hashed: no braces
   * that could move the hash tag, no unbounded key length. One hash tag per agent.
   */
  static key(agentId: string, messageId: string): string {
    const digest = createHash('sha256').update(messageId, 'utf8').digest('hex');
    return `cs:{replay:${agentId}}:${digest}`;
  }

  /** True the first time this agent sends this id within the window, false on a replay. */
  async firstSeen(agentId: string, messageId: string): Promise<boolean> {
    try {
      const reply = await this.redis.set(ReplayGuard.key(agentId, messageId), '1', 'EX', this.ttlSeconds, 'NX');
      return reply === 'OK';
    } catch (cause) {
      // Fail closed: without the guard a replay could not be told from a first delivery.
      throw new CountersignError(ErrorCode.StoreUnavailable, 'replay protection is unavailable (Redis does not answer); the request was not acted on: retry, signed anew (a new webhook-id) and with the same Idempotency-Key where it had one', { cause });
    }
  }
}
