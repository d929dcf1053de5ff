import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { generateWebhookSecret } from '../../src/adapters/http/auth/standard-webhooks.js';
import { IDEMPOTENCY_TTL_SECONDS } from '../../src/adapters/redis/idempotency-store.js';
import { loadConfig, MIN_RETENTION_DAYS, retentionMs } from '../../src/config.js';
import { isCountersignError } from '../../src/core/errors.js';

const REPO = join(import.meta.dirname, '../..');

/** The message a bad environment gets, or undefined when it is accepted. */
function refusal(env: NodeJS.ProcessEnv): string | undefined {
  try {
    loadConfig(env);
    return undefined;
  } catch (err) {
    expect(isCountersignError(err, 'ERR_CONFIG_INVALID')).toBe(true);
    return (err as Error).message;
  }
}

describe('configuration from the environment', () => {
  test('an empty environment runs on defaults', () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(3000);
    expect(config.COUNTERSIGN_POLICIES).toBe('./policies');
    expect(config.LOG_LEVEL).toBe('info');
    expect(config.REDIS_URL).toBeUndefined();
  });

  test.each([
    ['PORT', { PORT: 'eighty' }],
    ['PORT', { PORT: '70000' }],
    ['PORT', { PORT: '0x1F90' }],
    ['PORT', { PORT: '3e3' }],
    ['PORT', { PORT: '80.0' }],
    ['HOST', { HOST: 'not a host!!' }],
    ['REDIS_URL', { REDIS_URL: 'http://127.0.0.1:6379' }],
    ['SLACK_BOT_TOKEN', { SLACK_BOT_TOKEN: 'xoxp-user-token' }],
    ['SLACK_SIGNING_SECRET', { SLACK_BOT_TOKEN: 'xoxb-1' }],
    ['SLACK_BOT_TOKEN', { SLACK_APP_TOKEN: 'xapp-1' }],
    ['COUNTERSIGN_PUBLIC_URL', { COUNTERSIGN_PUBLIC_URL: 'ftp://gate.example.com' }],
    ['COUNTERSIGN_ADMIN_GROUP', { COUNTERSIGN_ADMIN_GROUP: 'platform-admins' }],
    ['COUNTERSIGN_DELIVERY_SECRET', { COUNTERSIGN_DELIVERY_SECRET: 'whsec_c2hvcnQ=' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['COUNTERSIGN_RETENTION_DAYS', { COUNTERSIGN_RETENTION_DAYS: '1' }],
    ['COUNTERSIGN_RETENTION_DAYS', { COUNTERSIGN_RETENTION_DAYS: '2.5' }],
    ['COUNTERSIGN_RETENTION_DAYS', { COUNTERSIGN_RETENTION_DAYS: 'never' }],
    ['COUNTERSIGN_RETENTION_DAYS', { COUNTERSIGN_RETENTION_DAYS: '36501' }],
    ['COUNTERSIGN_AGENT_NETWORKS', { COUNTERSIGN_AGENT_NETWORKS: 'intranet' }],
    ['COUNTERSIGN_AGENT_NETWORKS', { COUNTERSIGN_AGENT_NETWORKS: 'loopback, 10.0.0.1/8' }],
  ])('a bad %s stops the start and is named (%j)', (name, env) => {
    expect(refusal(env)).toMatch(new RegExp(`^invalid configuration:[\\s\\S]*\\b${name}\\b`));
  });

  test('LOG_LEVEL is read as written in any case, with spaces around it ignored; empty is info', () => {
    expect(loadConfig({ LOG_LEVEL: ' debug ' }).LOG_LEVEL).toBe('debug');
    expect(loadConfig({ LOG_LEVEL: 'WARN' }).LOG_LEVEL).toBe('warn');
    expect(loadConfig({ LOG_LEVEL: '' }).LOG_LEVEL).toBe('info');
    expect(refusal({ LOG_LEVEL: 'verbose' })).toMatch(/LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent/);
  });

  test('every bad value is named at once, and a secret is never repeated', () => {
    const secret = 'whsec_dG9vLXNob3J0LXNlY3JldA==';
    const message = refusal({ PORT: '-1', LOG_LEVEL: 'loud', COUNTERSIGN_DELIVERY_SECRET: secret })!;
    expect(message).toMatch(/PORT/);
    expect(message).toMatch(/LOG_LEVEL/);
    expect(message).toMatch(/COUNTERSIGN_DELIVERY_SECRET/);
    expect(message).not.toContain(secret.slice('whsec_'.length));
  });

  test('finished gates are kept 90 days unless COUNTERSIGN_RETENTION_DAYS says otherwise; the floor outlives an Idempotency-Key', () => {
    expect(retentionMs(loadConfig({}))).toBe(90 * 86_400_000);
    expect(retentionMs(loadConfig({ COUNTERSIGN_RETENTION_DAYS: '7' }))).toBe(7 * 86_400_000);
    expect(retentionMs(loadConfig({ COUNTERSIGN_RETENTION_DAYS: 'forever' }))).toBeUndefined();
    // A retry within the idempotency window must never meet a retired gate's key (it would make a new gate under the old id).
    expect(MIN_RETENTION_DAYS * 86_400).toBeGreaterThan(IDEMPOTENCY_TTL_SECONDS);
    expect(refusal({ COUNTERSIGN_RETENTION_DAYS: String(MIN_RETENTION_DAYS) })).toBeUndefined();
  });

  test('agent networks: unset means public addresses only; a value lists keywords and CIDRs', () => {
    expect(loadConfig({}).COUNTERSIGN_AGENT_NETWORKS).toBeUndefined();
    const networks = loadConfig({ COUNTERSIGN_AGENT_NETWORKS: 'loopback, 10.20.0.0/16, fd00:1::/32' }).COUNTERSIGN_AGENT_NETWORKS!;
    expect(networks.describe()).toBe('public addresses, loopback, 10.20.0.0/16, fd00:1::/32');
    expect(networks.check('10.20.3.4').allowed).toBe(true);
    expect(networks.check('10.21.3.4').allowed).toBe(false);
    expect(refusal({ COUNTERSIGN_AGENT_NETWORKS: 'intranet' })).toContain(
      'COUNTERSIGN_AGENT_NETWORKS is invalid: "intranet" is neither a keyword (loopback, private) nor a CIDR such as 10.0.0.0/8 or fd00::/8',
    );
  });

  test('a delivery secret in the Standard Webhooks form is accepted', () => {
    const secret = generateWebhookSecret();
    expect(loadConfig({ COUNTERSIGN_DELIVERY_SECRET: secret }).COUNTERSIGN_DELIVERY_SECRET).toBe(secret);
  });

  test('an empty PORT or HOST (a template that rendered nothing) means the default, not a random port', () => {
    expect(loadConfig({ PORT: '', HOST: ' ' })).toMatchObject({ PORT: 3000, HOST: '0.0.0.0' });
    expect(loadConfig({ PORT: '8080', HOST: '::1' })).toMatchObject({ PORT: 8080, HOST: '::1' });
  });

  test('`npm start` on embedded defaults with an invalid policy set names file:line and exits 1, with no stack trace and nothing left in /tmp', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'countersign-badpolicy-'));
    await cp(join(REPO, 'policies'), dir, { recursive: true });
    await writeFile(join(dir, 'rules.yaml'), (await readFile(join(dir, 'rules.yaml'), 'utf8')).replace('quorum: 2', 'quorum: -5'));
    // A temporary directory of the child's own: tests running beside this one use the shared one.
    const childTmp = await mkdtemp(join(tmpdir(), 'countersign-tmp-'));
    const run = spawnSync(process.execPath, ['--import', '@swc-node/register/esm-register', join(REPO, 'src/main.ts')], {
      cwd: REPO,
      env: { PATH: process.env.PATH, TMPDIR: childTmp, PORT: '0', COUNTERSIGN_POLICIES: dir, LOG_LEVEL: 'silent', SWC_NODE_PROJECT: join(REPO, 'tsconfig.json') },
      encoding: 'utf8',
      timeout: 30_000,
    });
    await rm(dir, { recursive: true, force: true });
    const left = await readdir(childTmp);
    await rm(childTmp, { recursive: true, force: true });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/rules\.yaml:\d+ rules\[\d+\]\.review\.quorum/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(left.filter((f) => f.startsWith('countersign-redis-'))).toEqual([]);
  }, 40_000);

  test('`npm start` with a bad value exits at once with the variable named', () => {
    const run = spawnSync(process.execPath, ['--import', '@swc-node/register/esm-register', join(REPO, 'src/main.ts')], {
      cwd: REPO,
      env: { PATH: process.env.PATH, PORT: 'eighty', SWC_NODE_PROJECT: join(REPO, 'tsconfig.json') },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/invalid configuration:[\s\S]*PORT must be a port number/);
  }, 40_000);

  test('`npm start` with an agent secret that is set but unusable stops and names it; an unset one is only warned about', () => {
    const run = spawnSync(process.execPath, ['--import', '@swc-node/register/esm-register', join(REPO, 'src/main.ts')], {
      cwd: REPO,
      env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'silent', COUNTERSIGN_AGENT_OPS_AGENT_SECRET: 'nope', SWC_NODE_PROJECT: join(REPO, 'tsconfig.json') },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('countersign: invalid configuration:\n  COUNTERSIGN_AGENT_OPS_AGENT_SECRET is not a Standard Webhooks secret');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  }, 40_000);
  test.each([
    ['REDIS_URL', 'redis://127.0.0.1:99999'],
    ['REDIS_URL', 'notaurl'],
    ['REDIS_URL', 'redis://127.0.0.1:6379/abc'],
    ['REDIS_URL', 'redis://127.0.0.1:6379/1.5'],
    ['REDIS_URL', 'redis://127.0.0.1:6379/countersign'],
    ['COUNTERSIGN_PUBLIC_URL', 'https://'],
    ['COUNTERSIGN_PUBLIC_URL', 'https://user:pw@cs.example.com'],
    ['COUNTERSIGN_PUBLIC_URL', 'https://cs.example.com/?x=1'],
    ['COUNTERSIGN_PUBLIC_URL', 'https://cs.example.com/#f'],
    ['SLACK_API_URL', 'http://[::1'],
  ])('%s=%s is refused with the variable named', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^invalid configuration:\\n  ${name} `));
  });

  test('REDIS_URL may name a database by number; COUNTERSIGN_PUBLIC_URL is kept exactly as written (it is the grant issuer executors pin)', () => {
    expect(loadConfig({ REDIS_URL: 'redis://:p%40ss@127.0.0.1:6379/3' }).REDIS_URL).toBe('redis://:p%40ss@127.0.0.1:6379/3');
    expect(loadConfig({ REDIS_URL: 'rediss://cache.internal/' }).REDIS_URL).toBe('rediss://cache.internal/');
    expect(loadConfig({ COUNTERSIGN_PUBLIC_URL: 'https://cs.example.com/' }).COUNTERSIGN_PUBLIC_URL).toBe('https://cs.example.com/');
    expect(loadConfig({ COUNTERSIGN_PUBLIC_URL: 'https://cs.example.com/countersign' }).COUNTERSIGN_PUBLIC_URL).toBe('https://cs.example.com/countersign');
  });
});
