import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicySet, PolicyStore } from '../../../src/adapters/policy/load.js';
import { CountersignError, ErrorCode } from '../../../src/core/errors.js';

const POLICIES = join(import.meta.dirname, '../../../policies');

/** A small valid set split over four files; each broken case replaces one file. Line numbers matter. */
const VALID: Record<string, string> = {
  'catalog.yaml': `actions:
  - id: app.deploy
    labels: [production-change]
    reversibility: reversible
`,
  'reviewers.yaml': `reviewerSets:
  - id: platform
    channel: C0PLATFORM
    users:
      - { id: U0PLAT1 }
      - { id: U0PLAT2 }
`,
  'rules.yaml': `rules:
  - id: prod
    match: { labels: [production-change] }
    outcome: review
    review:
      reviewerSet: platform
      quorum: 2
`,
  'agents.yaml': `agents:
  - id: bot
    owner: U0OWNER
    auth: { method: hmac, secretEnv: BOT_SECRET }
    actions: ["*"]
defaults:
  defaultReviewerSet: platform
  securityChannel: C0SECURITY
`,
};

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function writeSet(changes: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'countersign-policy-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries({ ...VALID, ...changes })) await writeFile(join(dir, name), text);
  return dir;
}

/** The issues of a set that must not load. */
async function issuesOf(changes: Record<string, string>): Promise<Array<{ pointer: string; message: string }>> {
  const error = await loadPolicySet(await writeSet(changes)).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(CountersignError);
  expect((error as CountersignError).code).toBe(ErrorCode.PolicyInvalid);
  return (error as CountersignError).issues;
}

describe('loadPolicySet', () => {
  test('loads a valid set split over several files', async () => {
    const policy = await loadPolicySet(await writeSet());
    expect(policy.rules.map((r) => r.id)).toEqual(['prod']);
    expect([...policy.agents.keys()]).toEqual(['bot']);
    expect(policy.version).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  test('the version changes with the content, not with comments', async () => {
    const base = await loadPolicySet(await writeSet());
    const commented = await loadPolicySet(await writeSet({ 'rules.yaml': `# reviewed by the platform team\n${VALID['rules.yaml']}` }));
    const changed = await loadPolicySet(await writeSet({ 'rules.yaml': VALID['rules.yaml']!.replace('quorum: 2', 'quorum: 1') }));
    expect(commented.version).toBe(base.version);
    expect(changed.version).not.toBe(base.version);
  });

  test('bad YAML: the line of the syntax error', async () => {
    const issues = await issuesOf({ 'rules.yaml': VALID['rules.yaml']!.replace('[production-change]', '[production-change') });
    expect(issues[0]).toEqual({ pointer: 'rules.yaml:3', message: expect.stringContaining('Flow sequence') });
    // The broken file's reviewer references are not reported as missing on top.
    expect(issues.every((i) => i.pointer.startsWith('rules.yaml:'))).toBe(true);
  });

  test('an unknown key: the line of the key', async () => {
    const issues = await issuesOf({ 'rules.yaml': `${VALID['rules.yaml']}      quorom: 3\n` });
    expect(issues).toEqual([{ pointer: 'rules.yaml:8', message: 'rules[0].review.quorom: unknown key "quorom"' }]);
  });

  test('an unknown label: the line of the label, and the labels that exist', async () => {
    const issues = await issuesOf({ 'catalog.yaml': VALID['catalog.yaml']!.replace('[production-change]', '[production-change, prod-change]') });
    expect(issues).toEqual([{ pointer: 'catalog.yaml:3', message: expect.stringMatching(/^actions\[0\]\.labels\[1\]: "prod-change" is not one of: production-change, data-sensitive/) }]);
  });

  test('a rule naming a reviewer set that does not exist', async () => {
    const issues = await issuesOf({ 'rules.yaml': VALID['rules.yaml']!.replace('reviewerSet: platform', 'reviewerSet: platfrom') });
    expect(issues).toEqual([{ pointer: 'rules.yaml:6', message: 'rules[0].review.reviewerSet: reviewer set "platfrom" is not defined' }]);
  });

  test('an asset placed in an environment class that does not exist', async () => {
    const issues = await issuesOf({
      'catalog.yaml': `${VALID['catalog.yaml']}environments:\n  - id: production\n    match: [production]\n    risk: high\nassets:\n  - id: orders\n    match: [{ type: postgres.table, id: "shop-prod/*" }]\n    environment: prodution\n`,
    });
    expect(issues).toEqual([{ pointer: 'catalog.yaml:12', message: 'assets[0].environment: environment class "prodution" is not defined' }]);
  });

  test('a quorum larger than a reviewer set of named users', async () => {
    const issues = await issuesOf({ 'rules.yaml': VALID['rules.yaml']!.replace('quorum: 2', 'quorum: 3') });
    expect(issues).toEqual([
      { pointer: 'rules.yaml:7', message: 'rules[0].review.quorum: quorum 3 is larger than reviewer set "platform", which lists only 2 user(s) and no user group' },
    ]);
  });

  test('more distinct teams than the set has', async () => {
    const issues = await issuesOf({ 'rules.yaml': `${VALID['rules.yaml']}      distinctTeams: 2\n` });
    expect(issues.map((i) => i.pointer)).toEqual(['rules.yaml:8', 'rules.yaml:8']);
    expect(issues[0]!.message).toContain('needs a team on every member');
  });

  test('duplicate ids, in one file and across files', async () => {
    const issues = await issuesOf({
      'reviewers.yaml': `${VALID['reviewers.yaml']}  - id: platform\n    channel: C0OTHER\n    users: [{ id: U0X }]\n`,
      'team-rules.yaml': `rules:\n  - id: prod\n    outcome: allow\n`,
    });
    // Files merge in name order: rules.yaml comes first, so the copy in team-rules.yaml is the duplicate.
    expect(issues).toEqual([
      { pointer: 'reviewers.yaml:7', message: 'reviewerSets[1].id: duplicate reviewer set id "platform" (first declared in reviewers.yaml)' },
      { pointer: 'team-rules.yaml:2', message: 'rules[0].id: duplicate rule id "prod" (first declared in rules.yaml)' },
    ]);
  });

  test('a rule whose outcome needs a block it lacks', async () => {
    const issues = await issuesOf({ 'rules.yaml': `rules:\n  - id: prod\n    outcome: reject\n` });
    expect(issues).toEqual([{ pointer: 'rules.yaml:3', message: 'rules[0].outcome: a rule with outcome reject needs a `reason`' }]);
  });

  test('every problem in every file at once, sorted by file and line', async () => {
    const issues = await issuesOf({
      'catalog.yaml': VALID['catalog.yaml']!.replace('reversible', 'undoable'),
      'rules.yaml': VALID['rules.yaml']!.replace('reviewerSet: platform', 'reviewerSet: nobody').replace('outcome: review', 'outcome: review\n    colour: red'),
      'agents.yaml': VALID['agents.yaml']!.replace('C0SECURITY', '#security'),
    });
    expect(issues.map((i) => i.pointer)).toEqual(['agents.yaml:8', 'catalog.yaml:4', 'rules.yaml:5', 'rules.yaml:7']);
  });

  test('a file that expands more aliases than allowed is an error, not an empty file', async () => {
    const aliases = Array.from({ length: 101 }, (_, i) => `  - { id: r${i}, match: *m, outcome: allow }`).join('\n');
    const issues = await issuesOf({ 'rules.yaml': `${VALID['rules.yaml']}  - id: anchor\n    match: &m { labels: [production-change] }\n    outcome: allow\n${aliases}\n` });
    expect(issues).toEqual([{ pointer: 'rules.yaml:1', message: expect.stringContaining('at most 100 alias uses') }]);
  });

  test('a syntax error in the file that declares defaults: its line, not a crash', async () => {
    const issues = await issuesOf({ 'agents.yaml': VALID['agents.yaml']!.replace('  securityChannel: C0SECURITY', ' securityChannel: C0SECURITY') });
    expect(issues.length).toBeGreaterThan(0);
    expect(issues.every((i) => /^agents\.yaml:\d+$/.test(i.pointer))).toBe(true);
    const duplicated = await issuesOf({ 'agents.yaml': `${VALID['agents.yaml']}defaults:\n  securityChannel: C0OTHER\n` });
    expect(duplicated[0]).toEqual({ pointer: expect.stringMatching(/^agents\.yaml:\d+$/), message: expect.stringContaining('unique') });
  });

  test('policy files may be symlinks (a Kubernetes ConfigMap mounts them so)', async () => {
    const real = await writeSet();
    const linked = await mkdtemp(join(tmpdir(), 'countersign-policy-links-'));
    dirs.push(linked);
    for (const name of Object.keys(VALID)) await symlink(join(real, name), join(linked, name));
    const fromLinks = await loadPolicySet(linked);
    expect(fromLinks.version).toBe((await loadPolicySet(real)).version);
  });

  test('a missing defaults section and an empty directory are errors too', async () => {
    const noDefaults = await issuesOf({ 'agents.yaml': VALID['agents.yaml']!.split('defaults:')[0]! });
    expect(noDefaults[0]!.message).toContain('no file declares `defaults`');
    const empty = await mkdtemp(join(tmpdir(), 'countersign-policy-empty-'));
    dirs.push(empty);
    await expect(loadPolicySet(empty)).rejects.toMatchObject({ code: ErrorCode.PolicyInvalid, message: expect.stringContaining('no policy files') });
  });
});

describe('PolicyStore', () => {
  test('a failed reload keeps the last good set; a good one replaces it', async () => {
    // Setup
    const dir = await writeSet();
    const store = await PolicyStore.open(dir);
    const first = store.current();

    // Execution: break the rules, reload; repair them with a change, reload.
    await writeFile(join(dir, 'rules.yaml'), VALID['rules.yaml']!.replace('platform', 'nobody'));
    const failed = await store.reload();
    await writeFile(join(dir, 'rules.yaml'), VALID['rules.yaml']!.replace('quorum: 2', 'quorum: 1'));
    const afterFailure = store.current();
    const repaired = await store.reload();

    // Validation
    expect(failed).toMatchObject({ ok: false, error: { code: ErrorCode.PolicyInvalid, issues: [{ pointer: 'rules.yaml:6' }] } });
    expect(afterFailure).toBe(first);
    expect(repaired).toEqual({ ok: true, version: store.current().version });
    expect(store.current().version).not.toBe(first.version);
  });

  test('a reload asked for while one runs loads once more after it, and takes the edit made meanwhile', async () => {
    // Setup
    const dir = await writeSet();
    const store = await PolicyStore.open(dir);

    // Execution: a reload runs (it may read the files before the edit); the edit; two more asks.
    const running = store.reload();
    await writeFile(join(dir, 'rules.yaml'), VALID['rules.yaml']!.replace('quorum: 2', 'quorum: 1'));
    const asked = store.reload();
    const askedToo = store.reload();

    // Validation: the asks share one load that starts after the running one, and see the edit.
    expect(asked).not.toBe(running);
    expect(askedToo).toBe(asked);
    const [, after] = await Promise.all([running, asked]);
    expect(after).toEqual({ ok: true, version: store.current().version });
    const edited = await loadPolicySet(dir);
    expect(store.current().version).toBe(edited.version);
    // Once it is all done, a reload starts afresh.
    const again = store.reload();
    expect(again).not.toBe(asked);
    await again;
  });

  test('open refuses an invalid set', async () => {
    const dir = await writeSet({ 'rules.yaml': VALID['rules.yaml']!.replace('quorum: 2', 'quorum: 0') });
    await expect(PolicyStore.open(dir)).rejects.toMatchObject({ code: ErrorCode.PolicyInvalid, issues: [{ pointer: 'rules.yaml:7' }] });
  });
});

describe('the default policy set', () => {
  test('loads, with the agents and executors the examples need', async () => {
    const policy = await loadPolicySet(POLICIES);
    for (const id of ['deploy-bot', 'terraform-bot', 'data-agent', 'iam-agent', 'migration-agent', 'ops-agent', 'demo-agent']) {
      expect(policy.agents.get(id)).toMatchObject({ role: 'agent', auth: { method: 'hmac', secretEnv: `COUNTERSIGN_AGENT_${id.toUpperCase().replace(/-/g, '_')}_SECRET` } });
    }
    for (const audience of ['deploy-runner', 'terraform-runner', 'data-export-runner', 'iam-broker', 'migration-runner', 'observability-proxy']) {
      expect(policy.index.servesAudience(audience)).toBe(true);
    }
    expect(policy.agents.get('demo-agent')?.actions).toEqual(['*']);
  });
});
