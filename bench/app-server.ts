import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
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

// With BENCH_PROFILE_DIR set, SIGUSR2 starts a CPU profile of this process (an allocation
// sampling profile with BENCH_PROFILE=heap) and the next SIGUSR2 writes it there: a benchmark
// can profile its measured phase only.
const profileDir = process.env.BENCH_PROFILE_DIR;
const heap = process.env.BENCH_PROFILE === 'heap';
if (profileDir) {
  let session: Session | undefined;
  process.on('SIGUSR2', () => {
    void (async () => {
      if (!session) {
        session = new Session();
        session.connect();
        if (heap) await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
        else {
          await session.post('Profiler.enable');
          await session.post('Profiler.start');
        }
        return;
      }
      const { profile } = heap ? await session.post('HeapProfiler.stopSampling') : await session.post('Profiler.stop');
      session.disconnect();
      session = undefined;
      writeFileSync(join(profileDir, `app-${Date.now()}.${heap ? 'heapprofile' : 'cpuprofile'}`), JSON.stringify(profile));
    })();
  });
}
