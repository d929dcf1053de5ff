import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The Node options `npm start` runs the product with (those before `--import` in package.json's
 * start script), so that the benchmarks measure the product as it runs.
 */
export function productNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../package.json'), 'utf8')) as { scripts: Record<string, string> };
  const words = pkg.scripts.start!.split(/\s+/);
  if (words[0] !== 'node') throw new Error(`the start script does not run node: ${pkg.scripts.start}`);
  const end = words.indexOf('--import');
  return words.slice(1, end === -1 ? undefined : end);
}

/** Runs a TypeScript file in its own Node process and waits for it to print `PORT <n>`. */
export async function startChild(file: string, env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<{ port: number; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', '@swc-node/register/esm-register', join(import.meta.dirname, file)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
  return {
    port,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** The product (bench/app-server.ts) in its own process, with the Node options `npm start` gives it. */
export function startApp(env: NodeJS.ProcessEnv): ReturnType<typeof startChild> {
  return startChild('app-server.ts', env, productNodeFlags());
}
