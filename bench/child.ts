import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

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
