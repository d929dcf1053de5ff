import { afterAll, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { eventually } from '../support/slack.js';

// How `npm start` fails. On embedded defaults it writes the agent secrets it made up to
// .countersign/dev-agent-secrets.json, for local scripts to sign with. A second start that
// fails (its port is taken) must leave the running one's secrets there.

const REPO = join(import.meta.dirname, '../..');
// A directory of its own (the file is written where the process runs), with the repository's
// packages reachable from it.
const cwd = mkdtempSync(join(tmpdir(), 'countersign-dev-'));
symlinkSync(join(REPO, 'node_modules'), join(cwd, 'node_modules'), 'dir');
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  rmSync(cwd, { recursive: true, force: true });
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

function start(port: number, extra: NodeJS.ProcessEnv = {}): { child: ChildProcess; exit: Promise<number | null>; stderr: () => string } {
  const register = pathToFileURL(join(REPO, 'node_modules/@swc-node/register/esm/esm-register.mjs')).href;
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, PORT: String(port), LOG_LEVEL: 'warn', COUNTERSIGN_POLICIES: join(REPO, 'policies'), SWC_NODE_PROJECT: join(REPO, 'tsconfig.json'), ...extra };
  const child = spawn(process.execPath, ['--import', register, join(REPO, 'src/main.ts')], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  child.stdout!.on('data', () => undefined);
  return { child, exit: new Promise((resolve) => child.once('exit', resolve)), stderr: () => err };
}

test('a second start on a taken port fails and leaves the running one\'s secrets in place', async () => {
  const port = await freePort();
  const file = join(cwd, '.countersign', 'dev-agent-secrets.json');
  start(port);
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok).catch(() => false)) && existsSync(file), 30_000);
  const first = readFileSync(file, 'utf8');
  expect(Object.keys(JSON.parse(first))).toContain('ops-agent');

  const second = start(port);
  expect(await second.exit).toBe(1);
  expect(second.stderr()).toContain(`countersign: PORT ${port} is in use on 127.0.0.1 (set PORT to a free port): EADDRINUSE`);
  expect(readFileSync(file, 'utf8')).toBe(first);
}, 60_000);

test('a HOST that is not an address of this machine is named', async () => {
  const run = start(await freePort(), { HOST: '192.0.2.1' });
  expect(await run.exit).toBe(1);
  expect(run.stderr()).toContain('countersign: HOST 192.0.2.1 is not an address of this machine (set HOST to one, or 0.0.0.0): EADDRNOTAVAIL');
  expect(run.stderr()).not.toMatch(/\n\s+at /);
}, 60_000);
