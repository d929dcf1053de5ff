import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REPO = join(import.meta.dirname, '../..');

/** `--import` for running the TypeScript sources from any working directory (as bin/countersign.mjs does). */
export const SWC_LOADER = `data:text/javascript,import{register}from'node:module';import{pathToFileURL}from'node:url';register('@swc-node/register/esm',pathToFileURL(${JSON.stringify(join(REPO, 'package.json'))}));`;

export interface DemoProcess {
  child: ChildProcess;
  /** The demo's working directory (its .countersign/ holds the agents' throwaway secrets). */
  cwd: string;
  /** Everything printed so far. */
  output(): string;
  /** Resolves with the first printed line matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The process ids of the demo's own children (the private redis-server). */
  children(): Promise<number[]>;
  /** Ctrl-C: SIGINT to the demo alone; resolves with its exit code. */
  interrupt(timeoutMs?: number): Promise<number | null>;
  cleanup(): void;
}

/**
 * Runs `src/demo.ts` as `npm run demo` does, in a temporary working directory (so its
 * .countersign/ files stay out of the repository), on free ports, with its own private Redis.
 */
export function startDemo(env: NodeJS.ProcessEnv = {}): DemoProcess {
  const cwd = mkdtempSync(join(tmpdir(), 'countersign-demo-'));
  const child = spawn(process.execPath, ['--import', SWC_LOADER, join(REPO, 'src/demo.ts')], {
    cwd,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      SWC_NODE_PROJECT: join(REPO, 'tsconfig.json'),
      COUNTERSIGN_POLICIES: join(REPO, 'policies'),
      PORT: '0',
      SANDBOX_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    text += d.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  return {
    child,
    cwd,
    output: () => text,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = text.match(pattern);
          if (m) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`demo did not print ${pattern} within ${timeoutMs} ms; it printed:\n${text}`));
        }, timeoutMs);
        listeners.add(check);
        check();
        void exited.then((code) => {
          if (listeners.has(check)) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(new Error(`demo exited (${code}) before printing ${pattern}:\n${text}`));
          }
        });
      });
    },
    async children() {
      const ps = spawn('ps', ['-o', 'pid=', '--ppid', String(child.pid)]);
      let out = '';
      ps.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await new Promise((r) => ps.once('close', r));
      return out.split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
    },
    async interrupt(timeoutMs = 20_000) {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    cleanup() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}

/** True while a process with this id exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
