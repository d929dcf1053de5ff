import { arch, cpus, totalmem } from 'node:os';
import type { BenchResult } from './types.js';

/**
 * `npm run bench [name …]`: runs the benchmarks (all by default) and prints their figures with
 * the machine they ran on. Speed targets live here, never in timed tests.
 */
const BENCHES: Record<string, () => Promise<BenchResult>> = {
  intake: async () => (await import('./intake.js')).benchIntake(),
  policy: async () => (await import('./policy.js')).benchPolicy(),
  grants: async () => (await import('./grants.js')).benchGrants(),
  redeem: async () => (await import('./redeem.js')).benchRedeem(),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length > 0 ? wanted : Object.keys(BENCHES);
const unknown = names.filter((n) => !(n in BENCHES));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${Object.keys(BENCHES).join(', ')}\n`);
  process.exit(2);
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
process.stdout.write(`machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${arch()}, Node ${process.version}\n`);
process.stdout.write(`date: ${new Date().toISOString()}\n\n`);
let failed = false;
for (const name of names) {
  try {
    const result = await BENCHES[name]!();
    process.stdout.write(`## ${result.name}\n${result.lines.join('\n')}\n\n`);
  } catch (err) {
    failed = true;
    process.stdout.write(`## ${name}\nfailed: ${(err as Error).stack ?? String(err)}\n\n`);
  }
}
process.exit(failed ? 1 : 0);
