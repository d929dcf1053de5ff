import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { CountersignError, ErrorCode, isCountersignError } from '../core/errors.js';
import type { Decision } from '../core/decision.js';
import { GateRequest, splitDelivery } from '../core/gate-request.js';
import { agentMayRequest } from '../core/policy/agents.js';
import { evaluate, explainDecision } from '../core/policy/evaluate.js';
import { loadPolicySet } from '../adapters/policy/load.js';
import { runPolicyTests as runCases, type PolicyTestReport } from '../adapters/policy/policy-tests.js';

/** `countersign policy check|test|explain`: the admin's view of the policy set in git. */

export type { PolicyTestFailure } from '../adapters/policy/policy-tests.js';

/** Where the command writes: `process.stdout`/`process.stderr`, or buffers in tests. */
export interface PolicyIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const USAGE = `usage: countersign policy <command>

commands:
  check [dir]                         load the set as the service would; print its version, or
                                      every problem with its file and line (exit 1)
  test [dir]                          run the cases in <dir>/tests/*.cases.yaml
  explain <request.json> [options]    print the decision for a request and why

options:
  --dir <path>      policy directory (default: $COUNTERSIGN_POLICIES or ./policies)
  --agent <id>      explain: the asking agent (default: the first agent registered for the action)
  --json            explain: print the decision as JSON
`;

/** Runs every case of a policy directory; throws `ERR_POLICY_INVALID` when the set does not load. */
export async function runPolicyTests(dir: string): Promise<{ passed: number; failed: PolicyTestReport['failed'] }> {
  const { passed, failed } = await runCases(dir);
  return { passed, failed };
}

/**
 * Evaluates one request (JSON text or an object) against the set in `dir`, now. Without an
 * agent id, the first agent registered for the action speaks for it (specific before `*`).
 */
export async function explainRequest(
  dir: string,
  requestJson: string | object,
  agentId?: string,
): Promise<{ decision: Decision; agentId: string; text: string }> {
  let body: unknown = requestJson;
  if (typeof requestJson === 'string') {
    try {
      body = JSON.parse(requestJson);
    } catch (cause) {
      throw new CountersignError(ErrorCode.MalformedJson, `the request is not JSON: ${(cause as Error).message}`, { cause });
    }
  }
  const parsed = GateRequest.safeParse(body);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ pointer: `/${i.path.join('/')}`, message: i.message }));
    const listing = issues.map((i) => `  ${i.pointer} ${i.message}`).join('\n');
    throw new CountersignError(ErrorCode.InvalidRequest, `the request is not a valid gate request:\n${listing}`, { issues });
  }
  const request = splitDelivery(parsed.data).action;
  const policy = await loadPolicySet(dir);
  const candidates = [...policy.agents.values()].filter((a) => a.role === 'agent' && agentMayRequest(a, request.action));
  const chosen = agentId ?? (candidates.find((a) => !a.actions.includes('*')) ?? candidates[0])?.id ?? '(none registered)';
  const decision = evaluate({ request, agentId: chosen }, policy, Date.now());
  const header = `${request.action} in ${request.environment}, asked by ${chosen}${agentId === undefined ? ' (chosen: first agent registered for the action)' : ''}`;
  return { decision, agentId: chosen, text: `${header}\n${explainDecision(decision)}` };
}

/** `countersign policy …`. Returns the exit code: 0 passed, 1 failed or invalid policy, 2 usage. */
export async function policyCommand(argv: string[], io: PolicyIo): Promise<number> {
  let values: { dir?: string | undefined; agent?: string | undefined; json?: boolean | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { dir: { type: 'string' }, agent: { type: 'string' }, json: { type: 'boolean' } },
    }));
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const [command, arg] = positionals;
  const defaultDir = values.dir ?? process.env.COUNTERSIGN_POLICIES ?? 'policies';
  try {
    if (command === 'check') return await checkCommand(arg ?? defaultDir, io);
    if (command === 'test') return await testCommand(arg ?? defaultDir, io);
    if (command === 'explain' && arg !== undefined) {
      const { decision, text } = await explainRequest(defaultDir, await readFile(arg, 'utf8'), values.agent);
      io.stdout.write(values.json === true ? `${JSON.stringify(decision, null, 2)}\n` : `${text}\n`);
      return 0;
    }
  } catch (err) {
    // File problems (missing, a directory, unreadable) are the user's to fix: a message, not a stack.
    if (!isCountersignError(err) && !FILE_ERRORS.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
    io.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
  io.stderr.write(USAGE);
  return 2;
}

const FILE_ERRORS = new Set(['ENOENT', 'EISDIR', 'ENOTDIR', 'EACCES', 'EPERM']);

/**
 * Loads the set exactly as a start or `/countersign policy reload` would (schema, references,
 * patterns, agents), without running cases: for a commit hook or a CI step of the policy
 * repository. A set that does not load throws, and policyCommand prints every problem with its
 * file and line (exit 1).
 */
async function checkCommand(dir: string, io: PolicyIo): Promise<number> {
  const policy = await loadPolicySet(dir);
  const count = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;
  const agents = [...policy.agents.values()];
  const executors = agents.filter((a) => a.role === 'executor').length;
  io.stdout.write(`${dir}: valid, version ${policy.version}\n`);
  io.stdout.write(
    `  ${count(policy.rules.length, 'rule')}, ${count(policy.reviewerSets.size, 'reviewer set')}, ${count(agents.length - executors, 'agent')}, ${count(executors, 'executor')}\n`,
  );
  return 0;
}

async function testCommand(dir: string, io: PolicyIo): Promise<number> {
  const report = await runCases(dir);
  for (const c of report.cases ?? []) io.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.file} › ${c.case}\n`);
  for (const f of report.failed) {
    io.stdout.write(`\nFAIL ${f.file} › ${f.case}\n`);
    for (const p of f.problems) io.stdout.write(`  - ${p}\n`);
  }
  const total = report.passed + report.failed.length;
  io.stdout.write(`\n${report.passed} passed, ${report.failed.length} failed\n`);
  if (total === 0) {
    io.stderr.write(`no cases in ${dir}/tests/*.cases.yaml\n`);
    return 1;
  }
  return report.failed.length === 0 ? 0 : 1;
}

// Runnable on its own until the main CLI dispatches to it.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await policyCommand(process.argv.slice(2), process);
}
