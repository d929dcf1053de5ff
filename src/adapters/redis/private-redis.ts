import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private `redis-server` child on a free port with its own temporary directory: the embedded
 * default for `npm start`/`npm run demo` without REDIS_URL, and the test run's own server.
 */
export interface PrivateRedis {
  url: string;
  port: number;
  dir: string;
  /** The redis-server process itself. */
  pid: number;
  /** Sends a signal to redis-server (tests pause it with SIGSTOP). */
  kill(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

/**
 * Runs redis-server under a small shell that ties its life to ours: the shell's stdin is a pipe
 * from this process, and when that pipe closes (stop(), or this process ending in any way, even
 * SIGKILL) the server is terminated. Without it, a parent killed hard left the server running.
 */
const LIFELINE = [
  'command -v redis-server >/dev/null 2>&1 || { echo "redis-server: not found" >&2; exit 127; }',
  'exec 3<&0',
  'redis-server "$@" </dev/null 3<&- &',
  'pid=$!',
  'echo "countersign-redis-pid $pid"',
  '(read -r _ <&3; kill "$pid" 2>/dev/null) </dev/null &',
  'exec 3<&-',
  'wait "$pid"',
].join('\n');

/** Asks the kernel for a free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Starts redis-server. `appendonly` turns AOF on (for restart tests); otherwise nothing is
 * persisted. Resolves once the server accepts connections.
 */
export async function startPrivateRedis(options: { appendonly?: boolean; dir?: string; port?: number } = {}): Promise<PrivateRedis> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'countersign-redis-'));
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', options.appendonly ? 'yes' : 'no',
    '--appendfsync', 'everysec',
    '--maxmemory-policy', 'noeviction',
    '--daemonize', 'no',
    '--logfile', '',
  ];
  const child: ChildProcess = spawn('sh', ['-c', LIFELINE, 'countersign-redis', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start on ${port}:\n${log}`)), 10_000);
    const onData = () => {
      if (/Ready to accept connections/i.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run redis-server (is it installed? or set REDIS_URL): ${err.message}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(code === 127 ? 'cannot run redis-server (is it installed? or set REDIS_URL)' : `redis-server exited with ${code}:\n${log}`));
    });
  });
  try {
    await started;
  } catch (err) {
    // Nothing of a failed start stays behind: the child, and the directory made for it.
    child.stdin?.end();
    child.kill('SIGKILL');
    if (!options.dir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const pid = Number(/countersign-redis-pid (\d+)/.exec(log)?.[1]);
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    pid,
    kill: signal,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => {
          // A server that does not exit on SIGTERM (paused, wedged) is killed after 5 s.
          const kill = setTimeout(() => signal('SIGKILL'), 5_000);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          // Closing the lifeline makes the shell terminate the server (SIGTERM).
          child.stdin?.end();
        });
      }
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
