import type { RuleMode } from '../../core/decision.js';
import { GATE_ID } from '../../core/ids.js';
import { parseDuration } from '../../app/admin/freeze.js';

/** A `/countersign` command, parsed. `usage` carries what was wrong with the input. */
export type ParsedCommand =
  | { kind: 'help' }
  | { kind: 'usage'; problem: string }
  | { kind: 'pending' }
  | { kind: 'show'; gateId: string }
  | { kind: 'mode-show' }
  | { kind: 'mode'; mode: RuleMode | 'clear'; rule?: string }
  | { kind: 'freeze'; environment: string; durationMs: number; reason: string }
  | { kind: 'unfreeze'; environment: string }
  | { kind: 'policy'; sub: 'version' | 'reload' | 'test' }
  | { kind: 'stats'; days: number }
  | { kind: 'break-glass'; gateId: string; justification: string }
  | { kind: 'cancel'; gateId: string; reason?: string }
  | { kind: 'review'; gateId: string; verdict: 'ok' | 'concern'; note: string }
  | { kind: 'deliveries' }
  | { kind: 'deliveries-replay'; gateId: string };

/** Commands that change something: admins only. */
export const ADMIN_ONLY: ReadonlySet<ParsedCommand['kind']> = new Set(['mode', 'freeze', 'unfreeze', 'break-glass', 'cancel', 'deliveries', 'deliveries-replay']);

/** `policy reload` and `policy test` are admin commands; `policy version` is not. */
export function needsAdmin(c: ParsedCommand): boolean {
  return ADMIN_ONLY.has(c.kind) || (c.kind === 'policy' && c.sub !== 'version');
}

const RULE_ID = /^[a-z][a-z0-9_.-]{0,127}$/;

function gate(word: string | undefined, usage: string): { gateId: string } | { problem: string } {
  if (!word) return { problem: `missing gate id: ${usage}` };
  // Gate ids are upper case after the prefix; people type them however they like.
  const id = `g_${word.replace(/^g_/i, '').toUpperCase()}`;
  return GATE_ID.test(id) ? { gateId: id } : { problem: `"${word.slice(0, 40)}" is not a gate id (they look like g_01J…): ${usage}` };
}

/**
 * Parses the text after `/countersign`. Never throws: anything it does not understand becomes
 * `usage` with a reason, which the edge answers with the help text.
 */
export function parseCommand(text: string): ParsedCommand {
  const trimmed = text.replace(/\s+/g, ' ').trim();
  const [head, ...words] = trimmed === '' ? [] : trimmed.split(' ');
  const rest = (n: number) => words.slice(n).join(' ').trim();
  const verb = head?.toLowerCase();
  switch (verb) {
    case undefined:
    case 'help':
    case '?':
      return { kind: 'help' };
    case 'pending':
      return words.length === 0 ? { kind: 'pending' } : { kind: 'usage', problem: '`pending` takes no arguments' };
    case 'show': {
      const g = gate(words[0], '`show <gate>`');
      return 'problem' in g ? { kind: 'usage', problem: g.problem } : { kind: 'show', gateId: g.gateId };
    }
    case 'mode': {
      if (words.length === 0) return { kind: 'mode-show' };
      const mode = words[0]!.toLowerCase();
      if (mode !== 'observe' && mode !== 'enforce' && mode !== 'clear') {
        return { kind: 'usage', problem: '`mode observe|enforce|clear [rule]`: observe or enforce, or clear to go back to the policy files' };
      }
      if (words.length > 2) return { kind: 'usage', problem: '`mode observe|enforce|clear [rule]` takes at most one rule id' };
      const rule = words[1];
      if (rule !== undefined && !RULE_ID.test(rule)) return { kind: 'usage', problem: `"${rule.slice(0, 40)}" is not a rule id` };
      return { kind: 'mode', mode, ...(rule ? { rule } : {}) };
    }
    case 'freeze': {
      const [environment, duration] = words;
      const reason = rest(2);
      if (!environment || !duration || !reason) return { kind: 'usage', problem: '`freeze <environment> <duration> <reason>`, e.g. `freeze production 4h incident 4711`' };
      const durationMs = parseDuration(duration);
      if (durationMs === undefined) return { kind: 'usage', problem: `"${duration.slice(0, 20)}" is not a duration (use 30m, 4h, 2d or 1h30m)` };
      return { kind: 'freeze', environment, durationMs, reason };
    }
    case 'unfreeze':
      return words.length === 1 ? { kind: 'unfreeze', environment: words[0]! } : { kind: 'usage', problem: '`unfreeze <environment>` or `unfreeze all`' };
    case 'policy': {
      const sub = words[0]?.toLowerCase();
      if ((sub === 'version' || sub === 'reload' || sub === 'test') && words.length === 1) return { kind: 'policy', sub };
      return { kind: 'usage', problem: '`policy version`, `policy reload` or `policy test`' };
    }
    case 'stats': {
      if (words.length === 0) return { kind: 'stats', days: 7 };
      const m = /^(\d{1,2})d?$/i.exec(words[0]!);
      const days = m ? Number(m[1]) : NaN;
      if (words.length > 1 || !(days >= 1 && days <= 30)) return { kind: 'usage', problem: '`stats [Nd]` with N from 1 to 30, e.g. `stats 7d`' };
      return { kind: 'stats', days };
    }
    case 'break-glass':
    case 'breakglass': {
      const g = gate(words[0], '`break-glass <gate> <justification>`');
      if ('problem' in g) return { kind: 'usage', problem: g.problem };
      const justification = rest(1);
      if (!justification) return { kind: 'usage', problem: '`break-glass <gate> <justification>`: say why, for the security team' };
      return { kind: 'break-glass', gateId: g.gateId, justification };
    }
    case 'cancel': {
      const g = gate(words[0], '`cancel <gate> [reason]`');
      if ('problem' in g) return { kind: 'usage', problem: g.problem };
      const reason = rest(1);
      return { kind: 'cancel', gateId: g.gateId, ...(reason ? { reason } : {}) };
    }
    case 'review': {
      const g = gate(words[0], '`review <gate> ok|concern <note>`');
      if ('problem' in g) return { kind: 'usage', problem: g.problem };
      const verdict = words[1]?.toLowerCase();
      const note = rest(2);
      if ((verdict !== 'ok' && verdict !== 'concern') || !note) return { kind: 'usage', problem: '`review <gate> ok|concern <note>`: a verdict and a note' };
      return { kind: 'review', gateId: g.gateId, verdict, note };
    }
    case 'deliveries': {
      if (words.length === 0) return { kind: 'deliveries' };
      if (words[0]!.toLowerCase() !== 'replay' || words.length > 2) return { kind: 'usage', problem: '`deliveries` lists parked agent callbacks; `deliveries replay <gate>` sends a gate\'s again' };
      const g = gate(words[1], '`deliveries replay <gate>`');
      return 'problem' in g ? { kind: 'usage', problem: g.problem } : { kind: 'deliveries-replay', gateId: g.gateId };
    }
    default:
      return { kind: 'usage', problem: `unknown command "${verb.slice(0, 30)}"` };
  }
}
