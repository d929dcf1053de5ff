import type { Redis } from 'ioredis';
import { isDeploymentRecord, type DeploymentRecord } from './deployment-chain.js';
import { AUDIT_KEYS } from './keys.js';

/** One exported line: the record's chain fields and its entry, parsed. */
export interface ExportedRecord {
  pos: number;
  loggedAt: string;
  kind: DeploymentRecord['kind'];
  gateId?: string;
  seq?: number;
  hash: string;
  prev: string;
  digest: string;
  gateHash?: string;
  /** The entry text exactly as hashed (so an auditor can recompute `digest`). */
  entryText: string;
  entry: unknown;
}

const PAGE = 1_000;

/** ISO time of epoch ms; the number as text when it is no valid time (damaged data is exported, not dropped). */
function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

/** The time an entry is about: its own `at`, else when it was logged. */
function timeOf(r: DeploymentRecord, entry: unknown): number {
  const at = (entry as { at?: unknown } | null)?.at;
  return typeof at === 'number' ? at : r.loggedAt;
}

/**
 * Writes the deployment chain as NDJSON, one record per line, from `since` (epoch ms, by the
 * entry's own time) on. Pages through the list so memory stays flat. Returns the line count.
 */
export async function exportAudit(redis: Redis, since: number, write: (line: string) => void | Promise<void>): Promise<number> {
  const total = await redis.llen(AUDIT_KEYS.log);
  let lines = 0;
  for (let start = 0; start < total; start += PAGE) {
    const raw = await redis.lrange(AUDIT_KEYS.log, start, start + PAGE - 1);
    for (const text of raw) {
      let r: DeploymentRecord;
      let entry: unknown;
      try {
        r = JSON.parse(text) as DeploymentRecord;
        if (!isDeploymentRecord(r)) throw new Error('not a record');
        entry = JSON.parse(r.entry);
      } catch {
        // An unreadable record is exported as is: hiding it would hide tampering.
        await write(JSON.stringify({ unreadable: text }));
        lines += 1;
        continue;
      }
      if (timeOf(r, entry) < since) continue;
      const out: ExportedRecord = {
        pos: r.pos,
        loggedAt: isoTime(r.loggedAt),
        kind: r.kind,
        ...(r.kind === 'gate' ? { gateId: r.gateId, seq: r.seq, gateHash: r.gateHash } : {}),
        hash: r.hash,
        prev: r.prev,
        digest: r.digest,
        entryText: r.entry,
        entry,
      };
      await write(JSON.stringify(out));
      lines += 1;
    }
  }
  return lines;
}

/**
 * Parses `--since`: an ISO time (`2026-11-20T00:00:00Z`, `2026-11-20`) or a span back from now
 * (`90m`, `24h`, `7d`). Undefined when it is neither.
 */
export function parseSince(text: string, now: number): number | undefined {
  const span = /^(\d{1,6})([smhd])$/.exec(text.trim());
  if (span) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[span[2] as 's' | 'm' | 'h' | 'd'];
    return now - Number(span[1]) * unit;
  }
  if (!/^\d{4}-\d{2}-\d{2}/.test(text.trim())) return undefined;
  const ms = Date.parse(text.trim());
  return Number.isNaN(ms) ? undefined : ms;
}
