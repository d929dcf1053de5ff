import { arch, cpus, totalmem } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchResult } from './types.js';

/**
 * `npm run bench [name …]`: runs the benchmarks (all by default) and prints their figures with
 * the machine they ran on. Speed targets live here, never in timed tests.
 */
/** Each benchmark module exports `bench<Name>(): Promise<BenchResult>`. */
const BENCHES = ['intake', 'policy', 'grants', 'redeem', 'clicks', 'expiry'] as const;

async function run(name: string): Promise<BenchResult> {
  const file = join(import.meta.dirname, `${name}.ts`);
  if (!existsSync(file)) throw new Error(`bench/${name}.ts is missing`);
  const module = (await import(pathToFileURL(file).href)) as Record<string, () => Promise<BenchResult>>;
  const fn = module[`bench${name[0]!.toUpperCase()}${name.slice(1)}`];
  if (!fn) throw new Error(`bench/${name}.ts exports no bench${name[0]!.toUpperCase()}${name.slice(1)}()`);
  return fn();
}

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length > 0 ? wanted : [...BENCHES];
const unknown = names.filter((n) => !(BENCHES as readonly string[]).includes(n));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${BENCHES.join(', ')}\n`);
  process.exit(2);
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
process.stdout.write(`machine: ${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${arch()}, Node ${process.version}\n`);
process.stdout.write(`date: ${new Date().toISOString()}\n\n`);
let failed = false;
for (const name of names) {
  try {
    const result = await run(name);
    process.stdout.write(`## ${result.name}\n${result.lines.join('\n')}\n\n`);
  } catch (err) {
    failed = true;
    process.stdout.write(`## ${name}\nfailed: ${(err as Error).stack ?? String(err)}\n\n`);
  }
}
process.exit(failed ? 1 : 0);
