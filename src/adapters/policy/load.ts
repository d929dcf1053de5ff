import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CountersignError, ErrorCode, type FieldIssue, isCountersignError } from '../../core/errors.js';
import { buildPolicySet } from '../../core/policy/build.js';
import type { PolicyFileInput, PolicySet } from '../../core/policy/types.js';
import { parseYamlSource, type YamlSource } from './yaml-source.js';

/** Policy files are the `*.yaml` / `*.yml` files directly in the directory (not `tests/`). */
const POLICY_FILE = /\.ya?ml$/;

/**
 * Reads every policy file of `dir`, merges them in file-name order and validates the set.
 * On any problem throws `ERR_POLICY_INVALID` whose `issues` list every problem of every file,
 * each as `pointer: "<file relative to dir>:<line>"`, sorted by file and line.
 */
export async function loadPolicySet(dir: string): Promise<PolicySet> {
  let names: string[];
  try {
    // stat, not the directory entry: a symlink to a file counts (a Kubernetes ConfigMap mount is all symlinks).
    const candidates = (await readdir(dir)).filter((name) => POLICY_FILE.test(name));
    const isFile = await Promise.all(candidates.map((name) => stat(join(dir, name)).then((s) => s.isFile(), () => false)));
    names = candidates.filter((_, i) => isFile[i]);
  } catch (cause) {
    throw new CountersignError(ErrorCode.PolicyInvalid, `cannot read the policy directory ${dir}: ${(cause as Error).message}`, {
      cause,
      issues: [{ pointer: dir, message: (cause as Error).message }],
    });
  }
  names.sort();
  if (names.length === 0) {
    throw new CountersignError(ErrorCode.PolicyInvalid, `no policy files (*.yaml) in ${dir}`, {
      issues: [{ pointer: dir, message: 'no policy files (*.yaml)' }],
    });
  }

  const sources = new Map<string, YamlSource>();
  for (const name of names) sources.set(name, parseYamlSource(name, await readFile(join(dir, name), 'utf8')));

  const located: Array<{ file: string; line: number; message: string }> = [];
  const inputs: PolicyFileInput[] = [];
  for (const source of sources.values()) {
    for (const e of source.errors) located.push({ file: source.file, line: e.line, message: e.message });
    inputs.push({ file: source.file, data: source.data, ...(source.errors.length > 0 ? { unparsable: true } : {}) });
  }
  const built = buildPolicySet(inputs);
  if (!built.ok) {
    for (const issue of built.issues) {
      located.push({ file: issue.file, line: sources.get(issue.file)?.lineOf(issue.path) ?? 1, message: withPath(issue.path, issue.message) });
    }
  }
  if (located.length === 0 && built.ok) return built.policy;

  located.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
  const issues: FieldIssue[] = located.map((l) => ({ pointer: `${l.file}:${l.line}`, message: l.message }));
  const listing = issues.map((i) => `  ${i.pointer} ${i.message}`).join('\n');
  throw new CountersignError(
    ErrorCode.PolicyInvalid,
    `policy set in ${dir} is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${listing}`,
    { issues, details: { dir } },
  );
}

/** Prefixes a message with the dotted path inside the file, so the line is easy to read. */
function withPath(path: ReadonlyArray<string | number>, message: string): string {
  if (path.length === 0) return message;
  const dotted = path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
  return `${dotted}: ${message}`;
}

export type ReloadResult = { ok: true; version: string } | { ok: false; error: CountersignError };

/**
 * Holds the current policy set. A reload that fails keeps the last good set, so a bad push
 * to the policy repository never leaves the gate without rules.
 */
export class PolicyStore {
  private set: PolicySet;
  private pending: Promise<ReloadResult> | undefined;
  /** The load that follows the running one, for reloads asked for while it runs. */
  private next: Promise<ReloadResult> | undefined;
  private readonly listeners: Array<(previous: PolicySet, next: PolicySet) => Promise<void>> = [];

  private constructor(
    private readonly dir: string,
    initial: PolicySet,
    private readonly logger?: Logger,
  ) {
    this.set = initial;
  }

  /** Loads the set; throws `ERR_POLICY_INVALID` when it does not validate (the start must stop). */
  static async open(dir: string, logger?: Logger): Promise<PolicyStore> {
    const set = await loadPolicySet(dir);
    logger?.debug({ policyVersion: set.version, dir }, 'policy set loaded');
    return new PolicyStore(dir, set, logger);
  }

  /** The set every decision uses now. */
  current(): PolicySet {
    return this.set;
  }

  /** Started after each reload that loaded a set, not awaited (errors are logged, never fail the reload). */
  onReloaded(listener: (previous: PolicySet, next: PolicySet) => Promise<void>): void {
    this.listeners.push(listener);
  }

  /**
   * Loads the directory again. A reload asked for while one runs gets one more load after it
   * (that one may have read the files before the edit that prompted this call); everybody who
   * asks meanwhile shares that next load.
   */
  reload(): Promise<ReloadResult> {
    if (!this.pending) return this.start();
    this.next ??= this.pending.then(() => {
      this.next = undefined;
      // Somebody may have started a load since: it began after this call, so it will do.
      return this.pending ?? this.start();
    });
    return this.next;
  }

  private start(): Promise<ReloadResult> {
    this.pending = this.load().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async load(): Promise<ReloadResult> {
    try {
      const next = await loadPolicySet(this.dir);
      const previous = this.set;
      this.set = next;
      this.logger?.debug({ policyVersion: next.version, previousVersion: previous.version }, 'policy set reloaded');
      // In the background: a reload answers at once (a slash command has three seconds).
      for (const listener of this.listeners) {
        void listener(previous, next).catch((err: unknown) => this.logger?.error({ err: (err as Error).message }, 'after a policy reload: a follow-up failed'));
      }
      return { ok: true, version: next.version };
    } catch (err) {
      const error = isCountersignError(err)
        ? err
        : new CountersignError(ErrorCode.PolicyInvalid, `policy reload failed: ${(err as Error).message}`, { cause: err });
      this.logger?.debug({ policyVersion: this.set.version, issues: error.issues }, 'policy reload failed; keeping the last good set');
      return { ok: false, error };
    }
  }
}
