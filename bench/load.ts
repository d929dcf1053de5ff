import { Agent, request } from 'node:http';
import { threadCpuMs } from './cpu.js';

/** One prepared HTTP request: everything signed ahead so the generator only sends. */
export interface PreparedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

export interface LoadResult {
  requests: number;
  errors: number;
  statuses: Record<string, number>;
  seconds: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU the generator's own thread spent on the run (Linux; NaN elsewhere). */
  cpuMs: number;
}

/**
 * A closed-loop load generator: `connections` keep-alive connections, each sending its next
 * request as soon as the previous answer arrived, until `requests` run out or `seconds` pass.
 * With `rate` set it becomes open-loop (a fixed arrival rate spread over the connections), so
 * latency is measured without coordinated omission.
 */
export async function runLoad(options: {
  port: number;
  connections: number;
  seconds: number;
  next: (i: number) => PreparedRequest | undefined;
  rate?: number;
}): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let issued = 0;
  const cpuBefore = threadCpuMs();
  const start = performance.now();
  const deadline = start + options.seconds * 1000;

  const send = (prepared: PreparedRequest, t0: number) =>
    new Promise<void>((resolve) => {
      const req = request(
        { port: options.port, host: '127.0.0.1', method: prepared.method, path: prepared.path, headers: prepared.headers, agent },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - t0);
            statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors += 1;
        resolve();
      });
      req.end(prepared.body);
    });

  const worker = async () => {
    for (;;) {
      if (performance.now() >= deadline) return;
      const prepared = options.next(issued);
      if (!prepared) return;
      // Open loop: a request is due at a fixed time, and its latency counts from then, so a
      // slow answer cannot hide the requests that should have been sent meanwhile.
      const due = options.rate ? start + (issued * 1000) / options.rate : performance.now();
      issued += 1;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await send(prepared, due);
    }
  };
  await Promise.all(Array.from({ length: options.connections }, () => worker()));
  const seconds = (performance.now() - start) / 1000;
  const cpuMs = threadCpuMs() - cpuBefore;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? Number.NaN;
  return {
    requests: latencies.length,
    errors,
    statuses,
    seconds,
    throughput: latencies.length / seconds,
    p50Ms: pct(50),
    p99Ms: pct(99),
    maxMs: latencies.at(-1) ?? Number.NaN,
    cpuMs,
  };
}
