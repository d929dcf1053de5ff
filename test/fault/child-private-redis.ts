import { startPrivateRedis } from '../../src/adapters/redis/private-redis.js';

// A process that starts a private Redis (as `npm start` does without REDIS_URL) and then only waits; prints `ready <pid> <dir>`.
const redis = await startPrivateRedis();
process.stdout.write(`ready ${redis.pid} ${redis.dir}\n`);
setInterval(() => undefined, 60_000);
