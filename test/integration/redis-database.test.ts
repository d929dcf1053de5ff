import { expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { startCountersign } from '../../src/countersign.js';
import { POLICIES_DIR } from '../support/app.js';
import { testRedisUrl } from '../support/redis.js';

test('a REDIS_URL naming a database the server lacks stops the start, naming it (ioredis would carry on in database 0)', async () => {
  // Setup: the test Redis, database 99 (a default server has 0–15).
  const redis = new Redis(testRedisUrl().replace(/\/\d+$/, '/99'), { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', COUNTERSIGN_POLICIES: POLICIES_DIR });
  try {
    // Execution
    const started = startCountersign({ config, redis, logger: pino({ level: 'silent' }), env: {} });

    // Validation
    await expect(started).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining('REDIS_URL names database 99') });
  } finally {
    redis.disconnect();
  }
});
