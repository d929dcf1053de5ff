import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Redis } from 'ioredis';
import { GENESIS } from '../../core/audit-chain.js';
import { gateKeys } from '../redis/keys.js';
import { runScript } from '../redis/scripts.js';
import { verifyRecords, type ChainHead, type DeploymentRecord } from './deployment-chain.js';
import { AUDIT_KEYS } from './keys.js';
import { retiredEntryOf } from './retention.js';

const PAGE = 1_000;

/** The stored base of the chain: undefined before the first archive, 'unreadable' when damaged. */
export async function readBase(redis: Redis): Promise<ChainHead | undefined | 'unreadable'> {
  const raw = await redis.get(AUDIT_KEYS.base);
  return raw === null ? undefined : parseHead(raw);
}

/** A stored `{pos, hash}` head or base, or 'unreadable'. */
export function parseHead(text: string): ChainHead | 'unreadable' {
  try {
    const head = JSON.parse(text) as ChainHead | null;
    return head && Number.isInteger(head.pos) && head.pos >= 0 && typeof head.hash === 'string' ? head : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

export type ArchiveResult =
  | { kind: 'archived'; from: number; through: number; records: number; gates: number }
  | { kind: 'nothing'; reason: string }
  | { kind: 'refused'; reason: string };

/**
 * Moves the oldest part of the deployment chain out of Redis into an NDJSON file, so the chain
 * does not grow for ever. Only a prefix that holds nothing still needed in Redis goes: every
 * gate named in it was retired within it (its own keys are gone, its watermark too), and every
 * record was logged before `before`. The prefix must verify; the file is written and synced
 * before anything is dropped, and the drop is one script that checks the chain is still the one
 * archived. Afterwards the chain in Redis starts after the archived part, whose last record
 * (position and hash) is kept as the base that `audit verify` checks from.
 */
export async function archiveAudit(redis: Redis, options: { before: number; out: string }): Promise<ArchiveResult> {
  const baseText = (await redis.get(AUDIT_KEYS.base)) ?? '';
  const base = baseText === '' ? undefined : parseHead(baseText);
  if (base === 'unreadable') return { kind: 'refused', reason: 'the stored base of the chain is unreadable: run audit verify' };
  const start: ChainHead = base ?? { pos: 0, hash: GENESIS };

  // First pass: the prefixes that verify, are old enough, and leave no gate half in them.
  const total = await redis.llen(AUDIT_KEYS.log);
  const open = new Set<string>();
  /** Gate id → index of its first record, for the gates the scan saw. */
  const firstIndex = new Map<string, number>();
  const closed = new Set<string>();
  /** Lengths of the prefixes that end with no gate open. */
  const safePoints: number[] = [];
  let scanned = 0;
  let last = start;
  scan: for (let at = 0; at < total; at += PAGE) {
    const raw = await redis.lrange(AUDIT_KEYS.log, at, at + PAGE - 1);
    const page = verifyRecords(raw, { pos: last.pos + 1, prev: last.hash });
    if (page.problems.length > 0) {
      const p = page.problems[0]!;
      return { kind: 'refused', reason: `the chain does not verify at record ${p.position ?? '?'} (${p.problem}): run audit verify` };
    }
    for (let i = 0; i < page.records.length; i += 1) {
      const r = page.records[i] as DeploymentRecord;
      if (r.loggedAt >= options.before) break scan;
      scanned = at + i + 1;
      if (r.kind === 'gate') {
        open.add(r.gateId);
        if (!firstIndex.has(r.gateId)) firstIndex.set(r.gateId, at + i);
      } else {
        // A retire record closes its gate only if the gate is really gone.
        const retired = retiredEntryOf(r.entry);
        if (retired && open.has(retired.gateId) && (await redis.exists(gateKeys(retired.gateId).gate)) === 0) {
          open.delete(retired.gateId);
          closed.add(retired.gateId);
        }
      }
      if (open.size === 0) safePoints.push(at + i + 1);
    }
    last = page.last;
  }
  // A gate closed by a void retire record (a pass that found it moved on) has records after it:
  // the prefix must end before that gate's first record.
  let limit = scanned;
  for (let at = scanned; at < total && closed.size > 0; at += PAGE) {
    for (const text of await redis.lrange(AUDIT_KEYS.log, at, at + PAGE - 1)) {
      const gateId = /"gateId":"([^"]*)"/.exec(text)?.[1];
      if (gateId && closed.has(gateId)) limit = Math.min(limit, firstIndex.get(gateId) ?? limit);
    }
  }
  const safe = safePoints.filter((p) => p <= limit).at(-1) ?? 0;
  if (safe === 0) return { kind: 'nothing', reason: 'no prefix of the chain is both old enough and made only of retired gates and admin records' };
  const gates = [...closed].filter((id) => (firstIndex.get(id) ?? Infinity) < safe).length;
  const safeHash = (JSON.parse((await redis.lindex(AUDIT_KEYS.log, safe - 1))!) as DeploymentRecord).hash;

  // Second pass: the file, synced, before anything leaves Redis.
  const fd = openSync(options.out, 'wx', 0o600);
  try {
    for (let at = 0; at < safe; at += PAGE) {
      const raw = await redis.lrange(AUDIT_KEYS.log, at, Math.min(at + PAGE, safe) - 1);
      writeSync(fd, raw.map((line) => `${line}\n`).join(''));
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // And its directory entry: a file whose data is on disk but whose name is not could vanish in
  // a crash after the trim below.
  syncDirectory(dirname(options.out));
  const through = start.pos + safe;
  const reply = await runScript(redis, 'audit-trim-2', [AUDIT_KEYS.log, AUDIT_KEYS.base], [baseText, safe, safeHash, JSON.stringify({ pos: through, hash: safeHash })]);
  if (reply[0] !== 1) return { kind: 'refused', reason: 'the chain changed while it was archived (another archive ran): nothing was dropped; the file is a copy' };
  return { kind: 'archived', from: start.pos + 1, through, records: safe, gates };
}

/** fsync of a directory, so the names created in it survive a crash (POSIX; a no-op where unsupported). */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } catch (err) {
    // Some platforms and file systems cannot fsync a directory (EINVAL, EISDIR on Windows).
    if (!['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    closeSync(fd);
  }
}
