import { pino } from 'pino';
import { connectRedis } from '../src/adapters/redis/connect.js';
import { loadConfig } from '../src/config.js';
import { startCountersign } from '../src/countersign.js';
import { mountFloor } from './floor.js';
import { mountGcCounts } from './gc.js';
import { startProfile } from './profile.js';

/** The product as `npm start` runs it, on a free port, quiet, for the benchmarks. */
const config = loadConfig({ ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
const logger = pino({ level: 'silent' });
const redis = connectRedis(config.REDIS_URL!, logger);
const app = await startCountersign({ config, redis, logger });
// With BENCH_FLOOR set, the routes' work without their store also answers, under /bench/floor/ (see ./floor.ts).
if (process.env.BENCH_FLOOR) mountFloor(app, redis, logger, config.COUNTERSIGN_PUBLIC_URL ?? app.url);
// GET /bench/gc: the garbage collections since the last read (see ./gc.ts).
mountGcCounts(app);
process.stdout.write(`PORT ${app.port}\n`);
process.on('SIGTERM', () => {
  void app.close().then(() => redis.quit()).then(() => process.exit(0));
});

// With BENCH_PROFILE_DIR set, SIGUSR2 starts a profile of this process (see ./profile.ts) and
// the next SIGUSR2 writes it: a benchmark can profile its measured phase only.
if (process.env.BENCH_PROFILE_DIR) {
  let stop: (() => Promise<void>) | undefined;
  process.on('SIGUSR2', () => {
    void (async () => {
      if (stop) {
        const done = stop;
        stop = undefined;
        await done();
      } else stop = await startProfile('app');
    })();
  });
}
