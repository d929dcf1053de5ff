import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { RecordedCall, SlackWebApiStandIn } from '../../src/sandbox/slack-web-api.js';

const ROOT = join(import.meta.dirname, '../..');

/** A child process running one of the TS entries in test/fault. */
export interface Child {
  process: ChildProcess;
  /** What it printed after `ready` (e.g. its URL). */
  info: string;
  output(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Starts `node --import @swc-node/register/esm-register <entry>` and waits for its `ready` line. */
export async function spawnEntry(entry: string, env: NodeJS.ProcessEnv, timeoutMs = 25_000): Promise<Child> {
  const child = spawn(process.execPath, ['--import', '@swc-node/register/esm-register', join(ROOT, 'test/fault', entry)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, NODE_NO_WARNINGS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const info = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} not ready within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = () => {
      const m = /^ready ?(.*)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] ?? '');
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited with ${code}:\n${out}`));
    });
  });
  return {
    process: child,
    info,
    output: () => out,
    kill: (signal) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}

/**
 * A proxy in front of the Slack stand-in that can leave one call hanging after Slack has
 * handled it (the worker dies "between post and recording the ts"), and that counts the
 * conversations.history / conversations.replies lookups that follow.
 */
export interface SlackProxy {
  url: string;
  /** Resolves with the call that was left hanging. */
  held: Promise<RecordedCall>;
  historyCalls: number;
  close(): Promise<void>;
}

const metadataOf = (call: RecordedCall) => {
  const m = call.params.metadata;
  return (typeof m === 'string' ? JSON.parse(m) : m) as { event_type?: string; event_payload?: Record<string, string> } | undefined;
};

export async function startSlackProxy(standIn: SlackWebApiStandIn, hold: (method: string, call: RecordedCall) => boolean): Promise<SlackProxy> {
  let release: (call: RecordedCall) => void = () => undefined;
  const held = new Promise<RecordedCall>((resolve) => (release = resolve));
  let holding = false;
  const hanging: ServerResponse[] = [];
  const proxy: SlackProxy = { url: '', held, historyCalls: 0, close: async () => undefined };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const method = /\/api\/([A-Za-z0-9_.]+)$/.exec(new URL(req.url ?? '/', 'http://proxy').pathname)?.[1] ?? '';
        if (method === 'conversations.history' || method === 'conversations.replies') proxy.historyCalls += 1;
        const seq = standIn.calls.length;
        const answer = await fetch(`${standIn.url}${method}`, {
          method: 'POST',
          headers: { 'content-type': req.headers['content-type'] ?? 'application/x-www-form-urlencoded', authorization: req.headers.authorization ?? '' },
          body: raw,
        });
        const text = await answer.text();
        const call = standIn.calls.slice(seq).find((c) => c.method === method);
        if (!holding && call && hold(method, call)) {
          holding = true;
          hanging.push(res);
          release(call);
          return;
        }
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        const retryAfter = answer.headers.get('retry-after');
        if (retryAfter) headers['retry-after'] = retryAfter;
        res.writeHead(answer.status, headers).end(text);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      for (const res of hanging) res.destroy();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return proxy;
}

export { metadataOf };
