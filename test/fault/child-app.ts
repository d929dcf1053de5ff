import { connectRedis } from '../../src/adapters/redis/connect.js';
import { loadConfig } from '../../src/config.js';
import { startCountersign } from '../../src/countersign.js';
import { createLogger } from '../../src/logger.js';

// A whole app process (HTTP, Slack receiver, workers) for fault tests; prints `ready <url>`.
const config = loadConfig(process.env);
const logger = createLogger(config.LOG_LEVEL);
// The connection as npm start makes it.
const redis = connectRedis(config.REDIS_URL!, logger);
const app = await startCountersign({ config, redis, logger, background: JSON.parse(process.env.FAULT_BACKGROUND ?? '{}') });
process.stdout.write(`ready ${app.url}\n`);
process.on('SIGTERM', () => {
  void app.close().then(() => redis.quit()).then(() => process.exit(0));
});
