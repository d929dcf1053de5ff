import type { Redis } from 'ioredis';
import { GENESIS, isAuditLink, verifyChain, type AuditLink } from '../../core/audit-chain.js';
import { gateKeys } from '../redis/keys.js';
import { verifyRecords, type AuditProblem, type ChainHead } from './deployment-chain.js';
import { AUDIT_KEYS, GATE_AUDIT_PATTERN, gateIdOfAuditKey } from './keys.js';
import { parseHead } from './archive.js';
import { firstEntry, requestMismatch } from './record-check.js';
import { retiredEntryOf, retirementOf, type RetiredEntry } from './retention.js';

/** What `countersign audit verify` found. */
export interface VerifyReport {
  ok: boolean;
  /** Records of the deployment chain in Redis. */
  records: number;
  /** The last archived record's position (0 when nothing was archived): Redis holds the records after it. */
  archivedThrough: number;
  /**
   * Anchors in the archived part, left unchecked because no archive files were given: the report
   * is not ok while there are any (the stored base alone proves nothing about them).
   */
  archivedAnchors: ChainHead[];
  /** Gate chains checked. */
  gates: number;
  /** Gate links checked. */
  links: number;
  problems: AuditProblem[];
  /** Gate links not (yet) copied to the deployment chain: not tampering, but worth knowing. */
  uncopied: Array<{ gateId: string; fromSeq: number; toSeq: number }>;
}

const PAGE = 1_000;

/**
 * Checks the deployment chain and every gate's chain, and that they agree: each record that
 * copies a gate link must match that link (digest and link hash), each gate's copied links must
 * run 1, 2, 3 … with none missing, and the stored head must be the chain's last record.
 */
export async function verifyAudit(redis: Redis, options: VerifyOptions = {}): Promise<VerifyReport> {
  // An archive that runs meanwhile drops the chain's first records and moves its base: what was
  // read by position after the snapshot no longer lines up. Found problems count only when the
  // base stayed where the snapshot saw it; else the check runs again on the archived chain.
  for (let attempt = 1; ; attempt += 1) {
    const { report, rawBase } = await verifyOnce(redis, options);
    if (report.ok || attempt >= 3 || (await redis.get(AUDIT_KEYS.base)) === rawBase) return report;
  }
}

interface VerifyOptions {
  anchors?: readonly ChainHead[];
  /** The archive files' lines (audit archive), oldest file first: checked to chain up to the base. */
  archived?: readonly string[];
}

async function verifyOnce(redis: Redis, options: VerifyOptions): Promise<{ report: VerifyReport; rawBase: string | null }> {
  const anchors = options.anchors ?? [];
  /** Anchors inside the archived part: checked against the archive file, not here. */
  const archivedAnchors: ChainHead[] = [];
  /** pos → the hash the chain holds there, for the anchored positions. */
  const anchoredHashes = new Map<number, string>();
  const problems: AuditProblem[] = [];
  /** gate id → seqs the deployment chain holds for it, with their record data. */
  const copies = new Map<string, Array<{ seq: number; digest: string; gateHash: string; position: number }>>();
  /** gate id → the records that retired it (links and last hash), with their positions. */
  const retired = new Map<string, Array<RetiredEntry & { position: number }>>();

  // One snapshot of what the append script writes together (head, length, watermarks), so that
  // appends running meanwhile are neither a cut end nor a missing copy. Records are only ever
  // appended, so the chain up to `total` stays what it was.
  const snapshot = (await redis.multi().get(AUDIT_KEYS.head).llen(AUDIT_KEYS.log).hgetall(AUDIT_KEYS.copied).get(AUDIT_KEYS.base).exec()) ?? [];
  const [rawHead, total, copied, rawBase] = snapshot.map(([err, value]) => {
    if (err) throw err;
    return value;
  }) as [string | null, number, Record<string, string>, string | null];
  // After an archive (audit archive) the list starts after the archived part's last record.
  const parsedBase = rawBase === null ? undefined : parseHead(rawBase);
  if (parsedBase === 'unreadable') {
    problems.push({ chain: 'deployment', problem: 'unreadable', detail: `the stored base of the chain is not a base: ${rawBase!.slice(0, 80)}` });
  }
  const base: ChainHead = parsedBase && parsedBase !== 'unreadable' ? parsedBase : { pos: 0, hash: GENESIS };
  let read = 0;
  // The archived part, when its files are given: it must chain from the start up to the base.
  const archivedHashes = new Map<number, string>();
  if (options.archived) {
    const checked = verifyRecords(options.archived, { pos: 1, prev: GENESIS });
    problems.push(...checked.problems.map((p) => ({ ...p, detail: `in the archive: ${p.detail}` })));
    checked.records.forEach((r) => {
      if (r && anchors.some((a) => a.pos === r.pos)) archivedHashes.set(r.pos, r.hash);
    });
    if (checked.last.pos !== base.pos || checked.last.hash !== base.hash) {
      problems.push({
        chain: 'deployment',
        position: checked.last.pos,
        problem: 'mismatch',
        detail: `the archive ends at record ${checked.last.pos} (${checked.last.hash.slice(0, 12)}…), but Redis continues from record ${base.pos} (${base.hash.slice(0, 12)}…): a file is missing, out of order, or not this chain's`,
      });
    }
  }
  let last: ChainHead = base;
  /** Reads and checks the chain from where the last read stopped up to `upto` records. */
  const readLog = async (upto: number) => {
    for (let start = read; start < upto; start += PAGE) {
      const raw = await redis.lrange(AUDIT_KEYS.log, start, Math.min(start + PAGE, upto) - 1);
      const page = verifyRecords(raw, { pos: last.pos + 1, prev: last.hash });
      problems.push(...page.problems);
      page.records.forEach((r, i) => {
        const pos = base.pos + start + i + 1;
        if (r && anchors.some((a) => a.pos === pos)) anchoredHashes.set(pos, r.hash);
        if (r?.kind === 'admin') {
          const retirement = retiredEntryOf(r.entry);
          if (retirement) retired.set(retirement.gateId, [...(retired.get(retirement.gateId) ?? []), { ...retirement, position: pos }]);
          return;
        }
        if (!r || r.kind !== 'gate') return;
        const list = copies.get(r.gateId) ?? [];
        list.push({ seq: r.seq, digest: r.digest, gateHash: r.gateHash, position: pos });
        copies.set(r.gateId, list);
      });
      last = page.last;
      read += raw.length;
      if (raw.length === 0) break;
    }
  };
  await readLog(total);
  const head = rawHead ? parseHead(rawHead) : undefined;
  if (head === 'unreadable') {
    problems.push({ chain: 'deployment', problem: 'unreadable', detail: `the stored head of the chain is not a head: ${rawHead!.slice(0, 80)}` });
  } else if (head && (head.pos !== last.pos || head.hash !== last.hash)) {
    problems.push({
      chain: 'deployment',
      position: head.pos,
      problem: 'removed',
      detail: `the chain's head is record ${head.pos} (${head.hash.slice(0, 12)}…) but the chain ends at record ${last.pos}: records were removed or altered at its end`,
    });
  }

  // Heads published earlier (the periodic `audit chain head` log line): each must still be in
  // the chain, with the same hash. This catches what nothing inside Redis can: records cut from
  // the end together with the stored head and watermarks, or a chain rebuilt from some point on.
  for (const anchor of anchors) {
    // An anchor in the archived part (its last record included) is proven by the archive files
    // alone: the stored base is only Redis's word, and whoever can cut the chain can write it.
    const held = anchor.pos <= base.pos ? archivedHashes.get(anchor.pos) : anchoredHashes.get(anchor.pos);
    if (anchor.pos <= base.pos && base.pos > 0 && !options.archived) {
      archivedAnchors.push(anchor);
    } else if (anchor.pos > base.pos + total) {
      problems.push({
        chain: 'deployment',
        position: anchor.pos,
        problem: 'removed',
        detail: `record ${anchor.pos} (${anchor.hash.slice(0, 12)}…) was published as the chain's head, but the chain ends at record ${base.pos + total}: records were removed from its end`,
      });
    } else if (held !== anchor.hash) {
      problems.push({
        chain: 'deployment',
        position: anchor.pos,
        problem: 'mismatch',
        detail: `record ${anchor.pos} was published with hash ${anchor.hash.slice(0, 12)}…, but the chain holds ${held ? `${held.slice(0, 12)}…` : 'an unreadable record'} there: the chain was rewritten from there or earlier`,
      });
    }
  }

  // Every gate chain in Redis, plus every gate the deployment chain names (its chain may be gone).
  const gateIds = new Set([...copies.keys(), ...retired.keys()]);
  for await (const keys of redis.scanStream({ match: GATE_AUDIT_PATTERN, count: 500 }) as AsyncIterable<string[]>) {
    for (const key of keys) {
      const id = gateIdOfAuditKey(key);
      if (id) gateIds.add(id);
    }
  }
  const uncopied: VerifyReport['uncopied'] = [];
  let links = 0;
  for (const gateId of [...gateIds].sort()) {
    // The chain and the gate's state in one snapshot: a move between two reads is no tampering.
    const [chainRead, stateRead, recordRead] =
      (await redis.multi().lrange(gateKeys(gateId).audit, 0, -1).hget(gateKeys(gateId).gate, 'state').hget(gateKeys(gateId).gate, 'record').exec()) ?? [];
    const raw = (chainRead?.[1] as string[] | undefined) ?? [];
    const state = stateRead?.[1] as string | null | undefined;
    const recordText = recordRead?.[1] as string | null | undefined;
    // The request lives outside the chain, in the record: it must still hash to what the chain recorded.
    if (recordText) {
      let request: unknown;
      let readable = true;
      try {
        request = (JSON.parse(recordText) as { request?: unknown }).request;
      } catch {
        readable = false;
      }
      const changed = readable ? requestMismatch(request, firstEntry(raw[0])) : "the gate's record is not JSON any more";
      if (changed) problems.push({ chain: 'gate', gateId, position: 1, seq: 1, problem: readable ? 'mismatch' : 'unreadable', detail: changed });
    }
    // A gate whose chain is gone may have been retired after the snapshot: its retire record is
    // then further on in the chain, so read on before judging.
    if (raw.length === 0 && !retired.has(gateId)) await readLog(await redis.llen(AUDIT_KEYS.log));
    links += raw.length;
    for (const p of verifyChain(raw)) {
      problems.push({ chain: 'gate', gateId, position: p.position, ...(p.seq !== undefined ? { seq: p.seq } : {}), problem: p.problem, detail: p.detail });
    }
    const bySeq = new Map<number, AuditLink>();
    let lastLink: AuditLink | undefined;
    for (const text of raw) {
      try {
        const link = JSON.parse(text) as unknown;
        if (isAuditLink(link)) bySeq.set(link.seq, link);
        lastLink = isAuditLink(link) ? link : undefined;
      } catch {
        // reported by verifyChain
        lastLink = undefined;
      }
    }
    // The gate is where its chain says: a state written around the scripts has no link.
    if (raw.length > 0 && lastLink && state !== lastLink.to) {
      problems.push({
        chain: 'gate',
        gateId,
        position: raw.length,
        seq: lastLink.seq,
        problem: 'state_mismatch',
        detail: state ? `the gate is ${state}, but its chain ends in ${lastLink.to}` : `the gate's record is gone, but its chain ends in ${lastLink.to}`,
      });
    }
    const held = copies.get(gateId) ?? [];
    // Retired (its retention was over): the gate's own chain is gone on purpose, and the copies
    // are all that is left of it; they must be the whole chain the retire record describes.
    // A retire record for a gate that is still there was void (the gate moved on meanwhile).
    const retirement = raw.length === 0 ? retirementOf(retired.get(gateId), copies.get(gateId)) : undefined;
    let expected = 1;
    held.forEach((copy) => {
      const where = { chain: 'deployment' as const, position: copy.position, gateId, seq: copy.seq };
      const wanted = expected;
      expected = copy.seq + 1;
      if (copy.seq !== wanted) {
        problems.push({ ...where, problem: 'removed_or_reordered', detail: `copies of gate ${gateId} skip or repeat: expected seq ${wanted}, found seq ${copy.seq}` });
      }
      const link = bySeq.get(copy.seq);
      if (retirement) return;
      if (!link) {
        problems.push({ ...where, problem: 'removed', detail: `gate ${gateId} has no link ${copy.seq} any more, though the deployment chain recorded it` });
      } else if (link.digest !== copy.digest || link.hash !== copy.gateHash) {
        problems.push({ ...where, problem: 'mismatch', detail: `gate ${gateId} link ${copy.seq} differs from what the deployment chain recorded` });
      }
    });
    if (retirement) {
      const last = held.at(-1);
      if (!last || last.seq !== retirement.links || last.gateHash !== retirement.lastHash) {
        problems.push({
          chain: 'deployment',
          position: retirement.position,
          gateId,
          seq: (last?.seq ?? 0) + 1,
          problem: 'removed',
          detail: `gate ${gateId} was retired with ${retirement.links} links ending in ${retirement.lastHash.slice(0, 12)}…, but the deployment chain holds ${last ? `copies up to link ${last.seq} ending in ${last.gateHash.slice(0, 12)}…` : 'none of them'}`,
        });
      }
    }
    // The watermark says how far this gate was copied: copies missing below it were removed
    // from the deployment chain (cut from its end, or the whole chain deleted with its head).
    const watermark = Number(copied[gateId] ?? '0');
    const heldUpTo = held.at(-1)?.seq ?? 0;
    if (Number.isInteger(watermark) && watermark > heldUpTo) {
      problems.push({
        chain: 'deployment',
        gateId,
        seq: heldUpTo + 1,
        problem: 'removed',
        detail: `gate ${gateId} was copied up to link ${watermark}, but the deployment chain holds ${heldUpTo === 0 ? 'none of its links' : `its links only up to ${heldUpTo}`}`,
      });
    }
    const copiedUpTo = Math.max(watermark || 0, heldUpTo);
    if (raw.length > copiedUpTo) uncopied.push({ gateId, fromSeq: copiedUpTo + 1, toSeq: raw.length });
  }
  problems.sort((a, b) => (a.chain === b.chain ? (a.position ?? 0) - (b.position ?? 0) : a.chain === 'deployment' ? -1 : 1));
  return { report: { ok: problems.length === 0 && archivedAnchors.length === 0, records: total, archivedThrough: base.pos, archivedAnchors, gates: gateIds.size, links, problems, uncopied }, rawBase };
}

/** One line per problem, naming where to look. */
export function describeProblem(p: AuditProblem): string {
  const where =
    p.chain === 'deployment'
      ? `deployment chain record ${p.position ?? '?'}${p.gateId ? ` (gate ${p.gateId} seq ${p.seq})` : ''}`
      : `gate ${p.gateId} link at position ${p.position ?? '?'}${p.seq !== undefined ? ` (seq ${p.seq})` : ''}`;
  return `${where}: ${p.problem.replace(/_/g, ' ')} — ${p.detail}`;
}

/** `<pos>:<hash>` (as the `audit chain head` log line and `audit head` print it) as a head. */
export function parseAnchor(text: string): ChainHead | undefined {
  const m = /^(\d{1,15}):([0-9a-f]{64})$/.exec(text.trim());
  if (!m) return undefined;
  const pos = Number(m[1]);
  return pos >= 1 ? { pos, hash: m[2]! } : undefined;
}

/** The chain's stored head (undefined for an empty chain or an unreadable head). */
export async function readChainHead(redis: Redis): Promise<ChainHead | undefined> {
  const raw = await redis.get(AUDIT_KEYS.head);
  const head = raw ? parseHead(raw) : undefined;
  return head === 'unreadable' ? undefined : head;
}

