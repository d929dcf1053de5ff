import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { CountersignError, ErrorCode } from '../../core/errors.js';
import { idempotencyKey } from './keys.js';

/** How long an Idempotency-Key is remembered (the IETF draft suggests at least 24 hours). */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

export interface IdempotencyClaim {
  gateId: string;
  /** True when this call claimed the key; false when an earlier request did. */
  fresh: boolean;
}

/**
 * Binds an agent's Idempotency-Key to one gate id and one body. One SET NX decides the owner,
 * so 50 concurrent retries agree on one gate id; a different body under the key is refused.
 */
export class IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds = IDEMPOTENCY_TTL_SECONDS,
  ) {}

  async claim(agentId: string, key: string, bodyHash: string, proposedGateId: string): Promise<IdempotencyClaim> {
    const redisKey = idempotencyKey(agentId, createHash('sha256').update(key).digest('hex'));
    const record = JSON.stringify({ gateId: proposedGateId, bodyHash });
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const set = await this.redis.set(redisKey, record, 'EX', this.ttlSeconds, 'NX');
      if (set === 'OK') return { gateId: proposedGateId, fresh: true };
      const existing = await this.redis.get(redisKey);
      if (existing === null) continue; // expired between the two calls: claim again
      const parsed = JSON.parse(existing) as { gateId: string; bodyHash: string };
      if (parsed.bodyHash !== bodyHash) {
        throw new CountersignError(
          ErrorCode.IdempotencyKeyReused,
          'this Idempotency-Key was already used with a different body; use a new key for a new request',
          { details: { gateId: parsed.gateId } },
        );
      }
      return { gateId: parsed.gateId, fresh: false };
    }
    throw new CountersignError(ErrorCode.StoreUnavailable, 'could not claim the Idempotency-Key; retry');
  }
}
