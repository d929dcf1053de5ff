import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startWorkers } from '../../src/worker.js';

// A workers-only process for fault tests: settings from FAULT_BACKGROUND (JSON), prints `ready`.
const config = loadConfig(process.env);
const redis = new Redis(config.REDIS_URL!, { maxRetriesPerRequest: 3 });
await startWorkers({ config, redis, logger: createLogger(config.LOG_LEVEL), background: JSON.parse(process.env.FAULT_BACKGROUND ?? '{}') });
process.stdout.write('ready\n');
