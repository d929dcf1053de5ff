import { connectRedis } from '../../src/adapters/redis/connect.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startWorkers } from '../../src/worker.js';

// A workers-only process for fault tests: settings from FAULT_BACKGROUND (JSON), prints `ready`.
const config = loadConfig(process.env);
const logger = createLogger(config.LOG_LEVEL);
// The connection as npm run worker makes it.
const redis = connectRedis(config.REDIS_URL!, logger);
await startWorkers({ config, redis, logger, background: JSON.parse(process.env.FAULT_BACKGROUND ?? '{}') });
process.stdout.write('ready\n');
