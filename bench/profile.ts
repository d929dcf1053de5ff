import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

/**
 * With BENCH_PROFILE_DIR set, profiles this thread between `start` and the returned `stop` — a
 * CPU profile, or an allocation sampling profile with BENCH_PROFILE=heap — and writes it there,
 * so a benchmark can profile its measured phase only. Without it, both are no-ops.
 */
export async function startProfile(name: string): Promise<() => Promise<void>> {
  const dir = process.env.BENCH_PROFILE_DIR;
  if (!dir) return async () => {};
  const heap = process.env.BENCH_PROFILE === 'heap';
  const session = new Session();
  session.connect();
  if (heap) await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  else {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  return async () => {
    const { profile } = heap ? await session.post('HeapProfiler.stopSampling') : await session.post('Profiler.stop');
    session.disconnect();
    writeFileSync(join(dir, `${name}-${Date.now()}.${heap ? 'heapprofile' : 'cpuprofile'}`), JSON.stringify(profile));
  };
}
