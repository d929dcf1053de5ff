import type { z } from 'zod';
import { type BrokenIds, checkPolicy, type PolicySources } from './check.js';
import { compilePolicySet } from './compile.js';
import { Defaults, LIST_SECTIONS, type ListSection, PolicyFile, SECTION_ITEM } from './schema.js';
import type { PolicyDocument, PolicyFileInput, PolicyIssue, PolicySet } from './types.js';

/**
 * Builds a policy set from parsed files: validates each file, keeps the valid entries of
 * broken files so that cross-file checks still run, and reports every problem at once.
 */

export type BuildResult = { ok: true; policy: PolicySet } | { ok: false; issues: PolicyIssue[] };

/** Validates, merges (in the given order) and compiles policy files. Pure. */
export function buildPolicySet(files: readonly PolicyFileInput[]): BuildResult {
  const issues: PolicyIssue[] = [];
  const sources = emptySources();
  const broken = emptyBroken();

  for (const { file, data, unparsable } of files) {
    if (data === null || data === undefined) continue; // an empty file declares nothing
    if (unparsable === true) {
      // Its syntax errors are reported by the reader; only remember its ids so that
      // references to them are not reported as missing too.
      salvage(file, data, sources, broken, false);
      continue;
    }
    const parsed = PolicyFile.safeParse(data);
    if (parsed.success) {
      for (const section of LIST_SECTIONS) {
        (parsed.data[section] ?? []).forEach((value, i) => (sources[section] as unknown[]).push({ file, path: [section, i], value }));
      }
      if (parsed.data.defaults !== undefined) sources.defaults.push({ file, path: ['defaults'], value: parsed.data.defaults });
      continue;
    }
    issues.push(...zodIssues(file, parsed.error.issues, data));
    salvage(file, data, sources, broken, true);
  }

  issues.push(...checkPolicy(sources, broken, files[0]?.file ?? '(no policy files)'));
  // An unparsable file fails the set even when nothing else does: its syntax errors are the
  // reader's to report, and what it held (the defaults, say) is missing.
  if (issues.length > 0 || files.some((f) => f.unparsable === true)) return { ok: false, issues };

  const document: PolicyDocument = {
    environments: sources.environments.map((s) => s.value),
    actions: sources.actions.map((s) => s.value),
    assets: sources.assets.map((s) => s.value),
    protectedTargets: sources.protectedTargets.map((s) => s.value),
    reviewerSets: sources.reviewerSets.map((s) => s.value),
    rules: sources.rules.map((s) => s.value),
    freezes: sources.freezes.map((s) => s.value),
    agents: sources.agents.map((s) => s.value),
    defaults: sources.defaults[0]!.value,
  };
  return { ok: true, policy: compilePolicySet(document) };
}

/** Keeps the entries of a broken file that validate on their own (when `keep`), and notes the ids of the rest. */
function salvage(file: string, data: unknown, sources: PolicySources, broken: BrokenIds, keep: boolean): void {
  if (typeof data !== 'object' || Array.isArray(data)) return;
  const record = data as Record<string, unknown>;
  for (const section of LIST_SECTIONS) {
    const items = record[section];
    if (!Array.isArray(items)) continue;
    items.forEach((item, i) => {
      const parsed = parseIgnoringUnknownKeys(SECTION_ITEM[section] as z.ZodType, item);
      if (keep && parsed.success) (sources[section] as unknown[]).push({ file, path: [section, i], value: parsed.data });
      else {
        const id = (item as { id?: unknown } | null)?.id;
        if (typeof id === 'string') broken[section].add(id);
      }
    });
  }
  if ('defaults' in record) {
    const parsed = Defaults.safeParse(record.defaults);
    if (keep && parsed.success) sources.defaults.push({ file, path: ['defaults'], value: parsed.data });
    else broken.defaults = true;
  }
}

/**
 * An entry whose only fault is an unknown key (a typo, usually) is still checked against the
 * others, so the author sees the typo and the broken reference in one run.
 */
function parseIgnoringUnknownKeys(schema: z.ZodType, item: unknown): { success: boolean; data?: unknown } {
  let candidate = item;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const parsed = schema.safeParse(candidate);
    if (parsed.success) return parsed;
    if (!parsed.error.issues.every((i) => i.code === 'unrecognized_keys')) return parsed;
    candidate = structuredClone(candidate);
    for (const issue of parsed.error.issues) {
      const owner = valueAt(candidate, issue.path) as Record<string, unknown> | undefined;
      if (issue.code === 'unrecognized_keys' && owner !== undefined) for (const key of issue.keys) delete owner[key];
    }
  }
  return { success: false };
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let node = data;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** zod issues as policy issues: one per unknown key (so each points at its key), unions flattened. */
export function zodIssues(file: string, raw: readonly z.core.$ZodIssue[], data?: unknown): PolicyIssue[] {
  const out: PolicyIssue[] = [];
  for (const issue of raw) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ file, path: [...path, key], message: `unknown key "${key}"` });
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Report the branch that got furthest: its problems are the ones the author meant to fix.
      const best = [...issue.errors].sort((a, b) => depth(b) - depth(a))[0]!;
      out.push(...zodIssues(file, best.map((i) => ({ ...i, path: [...path, ...i.path] })), data));
    } else if (issue.code === 'invalid_type' && data !== undefined && valueAt(data, path) === undefined) {
      out.push({ file, path, message: `is required (${issue.expected})` });
    } else if (issue.code === 'invalid_value' && data !== undefined) {
      const value = valueAt(data, path);
      const allowed = issue.values.map((v) => String(v)).join(', ');
      out.push({ file, path, message: `${JSON.stringify(value) ?? 'nothing'} is not one of: ${allowed}` });
    } else {
      out.push({ file, path, message: issue.message });
    }
  }
  return out;
}

const depth = (issues: readonly z.core.$ZodIssue[]) => Math.max(0, ...issues.map((i) => i.path.length));

function emptySources(): PolicySources {
  return {
    environments: [],
    actions: [],
    assets: [],
    protectedTargets: [],
    reviewerSets: [],
    rules: [],
    freezes: [],
    agents: [],
    defaults: [],
  };
}

function emptyBroken(): BrokenIds {
  const sets = Object.fromEntries(LIST_SECTIONS.map((s) => [s, new Set<string>()])) as Record<ListSection, Set<string>>;
  return { ...sets, defaults: false };
}
