import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, requestCommand } from '../../src/cli/request.js';
import { startSlackTestApp, type SlackTestApp } from '../support/slack.js';

// `countersign request --redeem` run again (its answer lost): with the same --idempotency-key it
// prints the same grant again; without one it says the grant is gone and exits non-zero.

const REPO = join(import.meta.dirname, '../..');
let t: SlackTestApp;
let cwd: string;
beforeAll(async () => {
  t = await startSlackTestApp();
  cwd = mkdtempSync(join(tmpdir(), 'countersign-cli-'));
});
afterAll(async () => {
  await t.close();
  rmSync(cwd, { recursive: true, force: true });
});

async function run(args: string[]) {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => ((stderr += s), true) }, env: { COUNTERSIGN_AGENT_OPS_AGENT_SECRET: t.secrets['ops-agent'] }, cwd };
  const code = await requestCommand([...args, '--agent', 'ops-agent', '--url', t.app.url], io);
  return { code, out: JSON.parse(stdout), stderr };
}

test('the same command with the same --idempotency-key prints the same grant again', async () => {
  const args = [join(REPO, 'examples/logs-read-only.json'), '--redeem', '--idempotency-key', 'retry-after-lost-answer'];
  const first = await run(args);
  expect(first.code).toBe(EXIT.ok);
  expect(typeof first.out.grant).toBe('string');
  const retry = await run(args);
  expect(retry.code).toBe(EXIT.ok);
  expect(retry.out.grant).toBe(first.out.grant);
});
