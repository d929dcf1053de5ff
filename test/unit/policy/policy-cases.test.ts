import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadPolicySet } from '../../../src/adapters/policy/load.js';
import { explainRequest, policyCommand, runPolicyTests } from '../../../src/cli/policy.js';

const REPO = join(import.meta.dirname, '../../..');
const POLICIES = join(REPO, 'policies');

/** A copy of the repository's policies and examples that a test may break. */
let copy: string;
beforeAll(async () => {
  copy = await mkdtemp(join(tmpdir(), 'countersign-cases-'));
  await cp(POLICIES, join(copy, 'policies'), { recursive: true });
  await cp(join(REPO, 'examples'), join(copy, 'examples'), { recursive: true });
});
afterAll(async () => {
  await rm(copy, { recursive: true, force: true });
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) } },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

describe('policy test cases', () => {
  test('the default policy set passes every case in policies/tests', async () => {
    const report = await runPolicyTests(POLICIES);
    expect(report.failed).toEqual([]);
    expect(report.passed).toBeGreaterThanOrEqual(20);
  });

  test('every request in examples/ has a case', async () => {
    const examples = (await readdir(join(REPO, 'examples'))).filter((f) => f.endsWith('.json'));
    const referenced = new Set<string>();
    for (const name of (await readdir(join(POLICIES, 'tests'))).filter((f) => f.endsWith('.cases.yaml'))) {
      for (const c of parse(await readFile(join(POLICIES, 'tests', name), 'utf8')) as Array<{ request: { file?: string } }>) {
        if (c.request.file !== undefined) referenced.add(c.request.file);
      }
    }
    expect(examples.filter((e) => !referenced.has(`examples/${e}`))).toEqual([]);
  });

  test('rules written in another letter case than requests still decide; reviews combine to the hardest of each', async () => {
    // Setup: rules as an operator might write them, with the cases the README's promises imply,
    // in a set of their own (the added rules change what some shipped cases expect).
    const dir = join(copy, 'letter-case');
    await cp(POLICIES, dir, { recursive: true });
    await rm(join(dir, 'tests'), { recursive: true });
    const rules = join(dir, 'rules.yaml');
    const original = await readFile(rules, 'utf8');
    await writeFile(
      rules,
      original.replace(
        'rules:\n',
        `rules:
  - id: no-prod-deletes
    match: { actions: [K8S.delete], environments: [Production] }
    outcome: reject
    reason: never delete in production
  - id: no-agent-touches-billing-admin
    match: { resources: [{ type: aws.iam_role, id: "arn:aws:iam::*:role/billing-admin" }] }
    outcome: reject
    reason: the billing admin role is changed by people only
  - id: iam-triple-check
    match: { actions: [iam.update_assume_role_policy] }
    outcome: review
    review: { reviewerSet: security, quorum: 3 }
  - id: staging-sandbox
    match: { environments: [staging], resources: [{ type: k8s.deployment, id: "staging-eu/sandbox-*" }] }
    outcome: allow
`,
      ),
    );
    await mkdir(join(dir, 'tests'));
    const cases = join(dir, 'tests', 'letter-case.cases.yaml');
    await writeFile(
      cases,
      `- note: the billing admin role is refused whatever the letter case of its name
  agent: iam-agent
  request:
    file: examples/iam-attach-admin-policy.json
    with:
      resources: [{ type: aws.iam_role, id: "arn:aws:iam::111122223333:role/Billing-Admin" }]
  want: { outcome: reject, reasons: [no-agent-touches-billing-admin] }
- note: the organization admin role keeps its two-team review when another rule asks for more approvals
  agent: iam-agent
  request:
    file: examples/iam-attach-admin-policy.json
    with:
      action: iam.update_assume_role_policy
      resources: [{ type: aws.iam_role, id: "arn:aws:iam::111122223333:role/OrganizationAccountAccessRole" }]
  want: { outcome: review, reviewerSet: security, quorum: 3, distinctTeams: 2 }
- note: a rule written for K8S.delete in Production refuses a delete in production
  agent: deploy-bot
  request:
    file: examples/k8s-deploy-staging.json
    with: { environment: production, action: k8s.delete }
  want: { outcome: reject, reasons: [no-prod-deletes] }
- note: an allow written for one name does not allow another name that differs only in case
  agent: deploy-bot
  request:
    file: examples/k8s-deploy-staging.json
    with:
      resources: [{ type: k8s.deployment, id: "STAGING-EU/sandbox-web" }]
  want: { outcome: allow, reasons: [staging-changes] }
`,
    );

    // Execution
    const report = await runPolicyTests(dir);

    // Validation
    expect(report).toEqual({ passed: 4, failed: [] });
  });

  test('a wrong case fails, named by its file and note, with what differs', async () => {
    // Setup: claim the production Terraform apply needs security instead of the service owners.
    const file = join(copy, 'policies/tests/examples.cases.yaml');
    const original = await readFile(file, 'utf8');
    await writeFile(file, original.replace('    reviewerSet: service-owners\n    quorum: 1', '    reviewerSet: security\n    quorum: 1'));

    // Execution
    const report = await runPolicyTests(join(copy, 'policies'));
    await writeFile(file, original);

    // Validation
    expect(report.failed).toEqual([
      {
        file: 'tests/examples.cases.yaml',
        case: 'a production Terraform apply is reviewed by one service owner',
        problems: ['reviewerSet: want security, got service-owners'],
      },
    ]);
  });

  test('a case naming a reason that did not fire fails and lists the rules that did', async () => {
    const file = join(copy, 'policies/tests/extra.cases.yaml');
    await writeFile(
      file,
      `- note: logs are refused
  agent: ops-agent
  request: { file: examples/logs-read-only.json }
  want: { outcome: reject, reasons: [no-such-rule] }
`,
    );
    const report = await runPolicyTests(join(copy, 'policies'));
    await rm(file);
    expect(report.failed).toHaveLength(1);
    expect(report.failed[0]).toMatchObject({ file: 'tests/extra.cases.yaml', case: 'logs are refused' });
    expect(report.failed[0]!.problems).toEqual([
      expect.stringMatching(/^outcome: want reject, got allow; rules: read-only$/),
      expect.stringMatching(/^reason "no-such-rule" not found; rules fired: read-only \(/),
    ]);
  });

  test('a malformed case file fails with the file and line of the problem', async () => {
    const file = join(copy, 'policies/tests/broken.cases.yaml');
    await writeFile(file, `- note: missing want\n  agent: ops-agent\n  request: { file: examples/logs-read-only.json }\n  wnat: {}\n`);
    const report = await runPolicyTests(join(copy, 'policies'));
    await rm(file);
    expect(report.failed).toEqual([
      {
        file: 'tests/broken.cases.yaml',
        case: '(file)',
        problems: ['tests/broken.cases.yaml:1 0.want: is required (object)', 'tests/broken.cases.yaml:4 0.wnat: unknown key "wnat"'],
      },
    ]);
  });
});

describe('countersign policy', () => {
  test('`test` prints every case and exits 0 when all pass, 1 when one fails', async () => {
    const ok = capture();
    expect(await policyCommand(['test', POLICIES], ok.io)).toBe(0);
    expect(ok.out()).toMatch(/^ok {4}tests\/examples\.cases\.yaml › reading production logs runs at once$/m);
    expect(ok.out()).toMatch(/\n\d+ passed, 0 failed\n$/);

    const file = join(copy, 'policies/tests/examples.cases.yaml');
    const original = await readFile(file, 'utf8');
    await writeFile(file, original.replace('    outcome: allow\n    risk: low', '    outcome: review\n    risk: low'));
    const failing = capture();
    const code = await policyCommand(['test', join(copy, 'policies')], failing.io);
    await writeFile(file, original);
    expect(code).toBe(1);
    expect(failing.out()).toContain('FAIL tests/examples.cases.yaml › reading production logs runs at once\n  - outcome: want review, got allow; rules: read-only');
  });

  test('`check` prints the version the service would load and exits 0; on a broken set, each problem with its line and exit 1', async () => {
    // Setup: the set as the service loads it; a copy whose rule names a reviewer set that does not exist.
    const loaded = await loadPolicySet(POLICIES);
    const rules = join(copy, 'policies/rules.yaml');
    const original = await readFile(rules, 'utf8');

    // Execution
    const ok = capture();
    const okCode = await policyCommand(['check', POLICIES], ok.io);
    await writeFile(rules, original.replace('reviewerSet: data-owners\n      breakGlass: false', 'reviewerSet: data-ownerz\n      breakGlass: false'));
    const broken = capture();
    const brokenCode = await policyCommand(['check', '--dir', join(copy, 'policies')], broken.io);
    await writeFile(rules, original);

    // Validation
    expect(okCode).toBe(0);
    expect(ok.out()).toBe(
      `${POLICIES}: valid, version ${loaded.version}\n` +
        `  ${loaded.rules.length} rules, ${loaded.reviewerSets.size} reviewer sets, ` +
        `${[...loaded.agents.values()].filter((a) => a.role === 'agent').length} agents, ${[...loaded.agents.values()].filter((a) => a.role === 'executor').length} executors\n`,
    );
    expect(brokenCode).toBe(1);
    expect(broken.out()).toBe('');
    expect(broken.err()).toMatch(/rules\.yaml:\d+ rules\[4\]\.review\.reviewerSet: reviewer set "data-ownerz" is not defined/);
  });

  test('`test` on an invalid policy set prints every problem with its line', async () => {
    const rules = join(copy, 'policies/rules.yaml');
    const original = await readFile(rules, 'utf8');
    await writeFile(rules, original.replace('reviewerSet: data-owners\n      breakGlass: false', 'reviewerSet: data-ownerz\n      breakGlass: false'));
    const io = capture();
    const code = await policyCommand(['test', join(copy, 'policies')], io.io);
    await writeFile(rules, original);
    expect(code).toBe(1);
    expect(io.err()).toMatch(/rules\.yaml:\d+ rules\[4\]\.review\.reviewerSet: reviewer set "data-ownerz" is not defined/);
  });

  test('`explain` prints the decision and why, for the agent registered for the action', async () => {
    const io = capture();
    expect(await policyCommand(['explain', join(REPO, 'examples/db-drop-column-prod.json'), '--dir', POLICIES], io.io)).toBe(0);
    const text = io.out();
    expect(text).toContain('db.migrate in production, asked by migration-agent');
    expect(text).toContain('Outcome: REVIEW');
    expect(text).toContain('Review: sre-and-owners (2 approvals across 2 teams), within 1 h');
    expect(text).toContain('irreversible-production @ action:');
    expect(text).toMatch(/Policy version: sha256:[0-9a-f]{64}/);
  });

  test('`explain --agent` evaluates as that agent; a bad request or usage is refused', async () => {
    const body = await readFile(join(REPO, 'examples/iam-attach-admin-policy.json'), 'utf8');
    const asDeployBot = await explainRequest(POLICIES, body, 'deploy-bot');
    expect(asDeployBot.decision).toMatchObject({ outcome: 'reject', rules: [{ rule: 'agent-not-permitted' }] });
    // A downstream action the agent is not registered for is never waved through: data-agent may query staging, not delete a namespace through downstream.
    const query = { ...JSON.parse(await readFile(join(REPO, 'examples/logs-read-only.json'), 'utf8')), action: 'db.query', environment: 'staging', downstream: [{ action: 'k8s.delete', resources: [{ type: 'k8s.namespace', id: 'staging-eu' }] }] };
    const smuggled = await explainRequest(POLICIES, JSON.stringify(query), 'data-agent');
    expect(smuggled.decision.outcome).toBe('review');
    expect(smuggled.decision.rules.map((r) => r.rule)).toContain('downstream-not-registered');
    await expect(explainRequest(POLICIES, '{"action": 1}')).rejects.toMatchObject({ code: 'ERR_INVALID_REQUEST' });
    const usage = capture();
    expect(await policyCommand(['explain'], usage.io)).toBe(2);
    expect(usage.err()).toContain('usage: countersign policy');
    // A directory where a file is expected: a message and exit 1, not a stack trace.
    const directory = capture();
    expect(await policyCommand(['explain', join(REPO, 'examples'), '--dir', POLICIES], directory.io)).toBe(1);
    expect(directory.err()).toContain('EISDIR');
  });
});
