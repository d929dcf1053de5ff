import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/**
 * Where the CPU of a run goes, so a throughput figure on a small shared machine can be read
 * against what each part costs. Linux only (/proc); elsewhere the figures are NaN.
 */

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** CPU ms so far of every thread of a process, by thread id. */
function threadTimes(pid: number | 'self'): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(tid, (Number(fields[11]) + Number(fields[12])) * TICK_MS);
      } catch {
        // the thread ended meanwhile
      }
    }
  } catch {
    // not Linux
  }
  return out;
}

async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? Number.NaN);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
}

export interface CpuShare {
  /** The app's main (JavaScript) thread. */
  mainMs: number;
  /** The app's other threads: garbage collection, libuv pool (signing, hashing), and any worker. */
  otherMs: number;
  redisMs: number;
}

/** Starts counting the CPU of process `pid` (its main thread apart) and of Redis. */
export async function startCpuCount(redis: Redis, pid: number | 'self', exclude: () => ReadonlySet<string> = () => new Set()): Promise<() => Promise<CpuShare>> {
  const mainTid = pid === 'self' ? String(process.pid) : String(pid);
  const before = threadTimes(pid);
  const redisBefore = await redisCpuMs(redis);
  return async () => {
    const after = threadTimes(pid);
    const skip = exclude();
    let mainMs = Number.NaN;
    let otherMs = after.size > 0 ? 0 : Number.NaN;
    for (const [tid, ms] of after) {
      const spent = ms - (before.get(tid) ?? 0);
      if (tid === mainTid) mainMs = spent;
      else if (!skip.has(tid)) otherMs += spent;
    }
    return { mainMs, otherMs, redisMs: (await redisCpuMs(redis)) - redisBefore };
  };
}

/** Thread ids of this process now (to leave a load generator's worker threads out of the count). */
export function currentThreads(): Set<string> {
  return new Set(threadTimes('self').keys());
}

/** CPU ms so far of the calling thread (NaN where /proc is missing). */
export function threadCpuMs(): number {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return Number.NaN;
  }
}

/** `main 0.78 + other 0.43 ms, Redis 0.17 ms, load generator 0.2 ms` per request. */
export function perRequest(share: CpuShare, load: { requests: number; cpuMs: number }): string {
  const f = (ms: number) => (ms / load.requests).toFixed(3);
  return `app main thread ${f(share.mainMs)} ms + other app threads ${f(share.otherMs)} ms, Redis ${f(share.redisMs)} ms, load generator ${f(load.cpuMs)} ms`;
}

/** The same shares per request, as benchmark figures (ms). */
export function perRequestFigures(share: CpuShare, load: { requests: number; cpuMs: number }): Record<string, number> {
  const f = (ms: number) => ms / load.requests;
  return { cpuMainMsPerRequest: f(share.mainMs), cpuOtherMsPerRequest: f(share.otherMs), cpuRedisMsPerRequest: f(share.redisMs), cpuGeneratorMsPerRequest: f(load.cpuMs) };
}
