import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { startCountersign } from '../src/countersign.js';

/** The product as `npm start` runs it, on a free port, quiet, for the benchmarks. */
const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
const redis = new Redis(config.REDIS_URL!, { enableAutoPipelining: true });
const app = await startCountersign({ config, redis, logger: pino({ level: 'silent' }) });
process.stdout.write(`PORT ${app.port}\n`);
process.on('SIGTERM', () => {
  void app.close().then(() => redis.quit()).then(() => process.exit(0));
});
