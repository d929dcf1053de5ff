import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyGrant } from '../../src/client/index.js';
import { EXIT, requestCommand } from '../../src/cli/request.js';
import { approve, changeRecord, deny, eventually, startSlackTestApp, type SlackTestApp } from '../support/slack.js';

/**
 * `countersign request` end to end: the real CLI (bin/countersign.mjs, a child process) against
 * the running app and its Slack stand-in; reviewers act through signed Slack payloads.
 */

const REPO = join(import.meta.dirname, '../..');
const example = (name: string) => join(REPO, 'examples', `${name}.json`);

let t: SlackTestApp;
let cwd: string;
const children = new Set<ChildProcess>();
beforeAll(async () => {
  t = await startSlackTestApp();
  // Not the repository: the CLI must not fall back to a developer's .countersign/ secrets.
  cwd = mkdtempSync(join(tmpdir(), 'countersign-cli-'));
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill();
  await t.close();
  rmSync(cwd, { recursive: true, force: true });
});

interface Run {
  code: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
}

function cli(args: string[], agent?: string): Run {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  if (agent) env[`COUNTERSIGN_AGENT_${agent.toUpperCase().replaceAll('-', '_')}_SECRET`] = t.secrets[agent];
  const child = spawn(process.execPath, [join(REPO, 'bin/countersign.mjs'), 'request', ...args, ...(agent ? ['--agent', agent] : []), '--url', t.app.url], { cwd, env });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return { code: new Promise((resolve) => child.once('exit', resolve)), stdout: () => stdout, stderr: () => stderr };
}

/** The same command in this process (faster), with the same arguments, environment and output streams. */
function inProcess(args: string[], agent?: string, env: NodeJS.ProcessEnv = {}): Run {
  let stdout = '';
  let stderr = '';
  const secrets: NodeJS.ProcessEnv = agent ? { [`COUNTERSIGN_AGENT_${agent.toUpperCase().replaceAll('-', '_')}_SECRET`]: t.secrets[agent] } : {};
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env: { ...secrets, ...env }, cwd };
  const code = requestCommand([...args, ...(agent ? ['--agent', agent] : []), '--url', t.app.url], io);
  return { code, stdout: () => stdout, stderr: () => stderr };
}

/** The gate id the CLI announced, once its change record is in Slack. */
async function announcedGate(run: Run): Promise<string> {
  const id = await eventually(() => /gate (g_[0-9A-Z]{26})/.exec(run.stderr())?.[1], 20_000);
  await eventually(() => changeRecord(t.slack, id), 10_000);
  return id;
}

describe('countersign request', () => {
  test('an allowed request is redeemed at once and prints a grant the executor can verify', async () => {
    const run = inProcess([example('logs-read-only'), '--redeem'], 'ops-agent');
    expect(await run.code).toBe(EXIT.ok);
    const answer = JSON.parse(run.stdout());
    expect(answer.gate.state).toBe('redeemed');
    const claims = await verifyGrant(answer.grant, {
      jwksUrl: `${t.app.url}/.well-known/jwks.json`,
      issuer: `http://localhost:${t.app.port}`,
      audience: 'observability-proxy',
      expect: { action: 'logs.query', evidenceHash: answer.gate.evidenceHash },
    });
    expect(claims.sub).toBe('ops-agent');
    expect(run.stderr()).toContain('allowed by policy');
  }, 30_000);

  test('--wait --redeem waits for two reviewers, printing the change, then prints the grant', async () => {
    // Setup
    const run = cli([example('iam-attach-admin-policy'), '--wait', '--redeem'], 'iam-agent');
    const gateId = await announcedGate(run);
    await eventually(() => run.stderr().includes('waiting for security (2 approvals)'), 10_000);
    // Execution: two security reviewers approve in Slack.
    expect((await approve(t, gateId, 'grace')).status).toBe(200);
    await eventually(async () => (await t.app.ctx.store.read(gateId))?.votes.length === 1);
    expect((await approve(t, gateId, 'omar')).status).toBe(200);
    // Validation
    expect(await run.code).toBe(EXIT.ok);
    expect(run.stderr()).toMatch(/pending_review → approved/);
    expect(run.stderr()).toMatch(/redeemed: grant gr_\w+ for iam-broker/);
    const answer = JSON.parse(run.stdout());
    expect(answer.claims.gid).toBe(gateId);
    expect(answer.claims.approvers).toHaveLength(2);
    expect((await t.app.ctx.store.read(gateId))?.state).toBe('redeemed');
  }, 40_000);

  test('a denied gate exits with its own code and prints the reviewer’s reason', async () => {
    const run = cli([example('terraform-apply-prod'), '--wait', '--redeem'], 'terraform-bot');
    const gateId = await announcedGate(run);
    await deny(t, gateId, 'elena', 'Split the replica from the autoscaling change');
    expect(await run.code).toBe(EXIT.denied);
    expect(run.stderr()).toMatch(/pending_review → denied/);
    expect(run.stderr()).toContain('Split the replica from the autoscaling change');
    expect(JSON.parse(run.stdout())).toMatchObject({ id: gateId, state: 'denied' });
  }, 40_000);

  test('a request that policy refuses exits 3 with the reason', async () => {
    // deploy-bot is not registered for IAM actions.
    const run = inProcess([example('iam-attach-admin-policy')], 'deploy-bot');
    expect(await run.code).toBe(EXIT.rejected);
    expect(run.stderr()).toMatch(/rejected by policy: .*iam\.attach_role_policy/);
  }, 30_000);

  test('without --wait a request for review exits 0; --timeout leaves it open and exits 7', async () => {
    const submitted = inProcess([example('db-drop-column-prod')], 'migration-agent');
    expect(await submitted.code).toBe(EXIT.ok);
    expect(JSON.parse(submitted.stdout()).state).toBe('pending_review');
    const waited = inProcess([example('customer-data-export'), '--wait', '--timeout', '1s'], 'data-agent');
    expect(await waited.code).toBe(EXIT.timeout);
    expect(waited.stderr()).toMatch(/still pending_review after 1 s; the gate stays open/);
    // Like every other outcome, the gate as last seen is on stdout (`> gate.json` keeps its id).
    expect(JSON.parse(waited.stdout())).toMatchObject({ id: expect.stringMatching(/^g_/), state: 'pending_review' });
  }, 30_000);

  test('errors: no credentials is a usage error, a bad signature is an error with the problem', async () => {
    const none = inProcess([example('logs-read-only'), '--agent', 'ops-agent']);
    expect(await none.code).toBe(EXIT.usage);
    expect(none.stderr()).toContain('COUNTERSIGN_AGENT_OPS_AGENT_SECRET');
    const wrong = inProcess([example('logs-read-only'), '--agent', 'ops-agent'], undefined, { COUNTERSIGN_AGENT_OPS_AGENT_SECRET: t.secrets['deploy-bot'] });
    expect(await wrong.code).toBe(EXIT.error);
    expect(wrong.stderr()).toMatch(/401 .*signature/i);
    expect(JSON.parse(wrong.stdout())).toMatchObject({ status: 401, code: 'ERR_BAD_SIGNATURE' });
    // A secret that is no secret (too short) is a usage error too, said before anything is sent.
    const short = inProcess([example('logs-read-only'), '--agent', 'ops-agent'], undefined, { COUNTERSIGN_AGENT_OPS_AGENT_SECRET: 'whsec_c2hvcnQ=' });
    expect(await short.code).toBe(EXIT.usage);
    expect(short.stderr()).toContain('signing secret for ops-agent is not usable: webhook secret is shorter than');
    // A damaged development secrets file is named, as a usage error, through the real command (no stack trace).
    mkdirSync(join(cwd, '.countersign'), { recursive: true });
    writeFileSync(join(cwd, '.countersign/dev-agent-secrets.json'), '{not json');
    try {
      const damaged = cli([example('logs-read-only'), '--agent', 'ops-agent']);
      expect(await damaged.code).toBe(EXIT.usage);
      expect(damaged.stderr()).toContain('dev-agent-secrets.json is not readable JSON');
      expect(damaged.stderr()).not.toContain('    at ');
      writeFileSync(join(cwd, '.countersign/dev-agent-secrets.json'), '{"ops-agent": 12345678}');
      const notText = inProcess([example('logs-read-only'), '--agent', 'ops-agent']);
      expect(await notText.code).toBe(EXIT.usage);
      expect(notText.stderr()).toContain('holds no secret text for ops-agent');
    } finally {
      rmSync(join(cwd, '.countersign'), { recursive: true, force: true });
    }
  }, 30_000);

  test('countersign help lists the request command and its exit codes', async () => {
    const help = spawn(process.execPath, [join(REPO, 'bin/countersign.mjs'), 'help'], { cwd });
    let stdout = '';
    help.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    expect(await new Promise((resolve) => help.once('exit', resolve))).toBe(0);
    expect(stdout).toContain('request <request.json> [--wait] [--redeem]');
    expect(stdout).toMatch(/3 rejected, 4 denied, 5 expired, 6 cancelled\/invalidated/);
  }, 30_000);
});
