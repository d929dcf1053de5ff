import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { checkDatabase } from '../adapters/redis/database.js';
import { archiveAudit } from '../adapters/audit/archive.js';
import { exportAudit, parseSince } from '../adapters/audit/export.js';
import { renderTrace, traceGate } from '../adapters/audit/trace.js';
import type { ChainHead } from '../adapters/audit/deployment-chain.js';
import { describeProblem, parseAnchor, readChainHead, verifyAudit } from '../adapters/audit/verify.js';
import { GateStore } from '../adapters/redis/gate-store.js';
import { GATE_ID } from '../core/ids.js';

/** Where the command writes, and what it reads: `process.*` in the CLI, buffers in tests. */
export interface AuditIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
  now: () => number;
}

/** The reader of `audit export` on stdout went away. */
class ReaderGone extends Error {}

const AUDIT_USAGE = `usage: countersign audit <command>

commands:
  verify [--anchor <pos>:<hash>]… [--archive <file>]…
                                 check the deployment chain and every gate's chain; exit 1 and
                                 name each modified, removed or reordered entry. Each --anchor is
                                 a head published earlier (the "audit chain head" log line, or
                                 audit head): it must still be in the chain, unchanged. Each
                                 --archive is a file audit archive wrote, oldest first: together
                                 they must chain up to where Redis continues
  head                           print the chain's current head as <pos>:<hash>, to keep elsewhere
  archive --out <file> [--before <time>]
                                 move the oldest records out of Redis into <file> (NDJSON, a new
                                 file): the longest prefix logged before <time> (default: now)
                                 that holds only retired gates and admin records
  export --since <time> [--out <file>]
                                 write the deployment chain as NDJSON (time: ISO 8601, or 24h, 7d …)

Connects to REDIS_URL.
`;

const TRACE_USAGE = `usage: countersign trace <gate>

Prints a gate's path from its audit chain: intent → agent session → policy decision → votes and
approval → grant (id, claims) → consumption → outcome and calls. Connects to REDIS_URL.
`;

/** Connects to REDIS_URL, runs `work`, disconnects; exit 2 with a clear message when unset. */
export async function withRedis(io: AuditIo, work: (redis: Redis) => Promise<number>): Promise<number> {
  const url = io.env.REDIS_URL?.trim();
  if (!url) {
    io.stderr.write('countersign: REDIS_URL is not set; point it at the Redis that Countersign uses (e.g. redis://localhost:6379/0)\n');
    return 2;
  }
  let redis: Redis;
  try {
    redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null });
  } catch (err) {
    io.stderr.write(`countersign: REDIS_URL is not a Redis URL (${(err as Error).message}); e.g. redis://localhost:6379/0\n`);
    return 2;
  }
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await checkDatabase(redis);
  } catch (err) {
    io.stderr.write(`countersign: cannot use Redis at ${redactUrl(url)}: ${(err as Error).message}\n`);
    redis.disconnect();
    return 2;
  }
  try {
    return await work(redis);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** `countersign audit verify|head|archive|export`. Exit codes: 0 fine, 1 problems found, 2 usage or connection. */
export async function auditCommand(args: string[], io: AuditIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'verify') {
    let anchorTexts: string[];
    let archiveFiles: string[] = [];
    try {
      const parsed = parseArgs({ args: rest, options: { anchor: { type: 'string', multiple: true }, archive: { type: 'string', multiple: true } }, strict: true }).values;
      anchorTexts = parsed.anchor ?? [];
      archiveFiles = parsed.archive ?? [];
    } catch (err) {
      io.stderr.write(`countersign: ${(err as Error).message}\n\n${AUDIT_USAGE}`);
      return 2;
    }
    const anchors: ChainHead[] = [];
    for (const text of anchorTexts) {
      const anchor = parseAnchor(text);
      if (!anchor) {
        io.stderr.write(`countersign: --anchor needs <pos>:<hash> (a record position and its 64-hex-digit hash), not ${JSON.stringify(text)}\n\n${AUDIT_USAGE}`);
        return 2;
      }
      anchors.push(anchor);
    }
    let archived: string[] | undefined;
    if (archiveFiles.length > 0) {
      archived = [];
      for (const file of archiveFiles) {
        try {
          archived.push(...readFileSync(file, 'utf8').split('\n').filter((line) => line !== ''));
        } catch (err) {
          io.stderr.write(`countersign: cannot read ${file}: ${(err as Error).message}\n`);
          return 2;
        }
      }
    }
    return withRedis(io, async (redis) => {
      const report = await verifyAudit(redis, { anchors, ...(archived ? { archived } : {}) });
      for (const p of report.problems) io.stdout.write(`TAMPERED ${describeProblem(p)}\n`);
      for (const a of report.archivedAnchors) {
        io.stdout.write(`UNCHECKED anchor ${a.pos} lies in the archived part (records 1–${report.archivedThrough}): only the archive files can prove it; pass them with --archive\n`);
      }
      if (report.archivedThrough > 0 && !archived) {
        io.stdout.write(
          `note: records 1–${report.archivedThrough} are not in Redis: archived by \`audit archive\`, or removed by someone who also wrote the chain's base; pass the archive files with --archive to check them\n`,
        );
      }
      for (const u of report.uncopied) {
        io.stdout.write(`note: gate ${u.gateId} links ${u.fromSeq}–${u.toSeq} are not in the deployment chain yet (copied with the gate's next change)\n`);
      }
      io.stdout.write(
        `${report.ok ? 'OK' : 'FAILED'}: ${report.records} deployment records${deploymentRange(report, archived !== undefined)}, ${report.gates} gates, ${report.links} gate links checked; ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}${report.archivedAnchors.length > 0 ? `, ${report.archivedAnchors.length} anchor${report.archivedAnchors.length === 1 ? '' : 's'} unchecked` : ''}\n`,
      );
      return report.ok ? 0 : 1;
    });
  }
  if (sub === 'head' && rest.length === 0) {
    return withRedis(io, async (redis) => {
      const head = await readChainHead(redis);
      if (!head) {
        io.stderr.write('the deployment chain is empty (or its head is unreadable: run audit verify)\n');
        return 1;
      }
      io.stdout.write(`${head.pos}:${head.hash}\n`);
      return 0;
    });
  }
  if (sub === 'archive') {
    let values;
    try {
      values = parseArgs({ args: rest, options: { out: { type: 'string' }, before: { type: 'string' } }, strict: true }).values;
    } catch (err) {
      io.stderr.write(`countersign: ${(err as Error).message}\n\n${AUDIT_USAGE}`);
      return 2;
    }
    const before = values.before === undefined ? io.now() : parseSince(values.before, io.now());
    if (!values.out || before === undefined) {
      io.stderr.write(`countersign: archive needs --out <file>${before === undefined ? ', and --before a time (2026-11-20T00:00:00Z) or a span back from now (30d)' : ''}\n\n${AUDIT_USAGE}`);
      return 2;
    }
    const out = values.out;
    if (existsSync(out)) {
      io.stderr.write(`countersign: ${out} exists; archive writes a new file only\n`);
      return 2;
    }
    return withRedis(io, async (redis) => {
      let result;
      try {
        result = await archiveAudit(redis, { before, out });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST' || (err as NodeJS.ErrnoException).syscall === 'open') {
          io.stderr.write(`countersign: cannot write ${out}: ${(err as Error).message}\n`);
          return 2;
        }
        throw err;
      }
      if (result.kind === 'refused') {
        io.stderr.write(`countersign: archive refused: ${result.reason}\n`);
        return 1;
      }
      if (result.kind === 'nothing') {
        io.stdout.write(`nothing to archive: ${result.reason}\n`);
        return 0;
      }
      io.stdout.write(
        `archived records ${result.from}–${result.through} (${result.records} records, ${result.gates} retired gates) to ${out}; ` +
          `Redis now holds the chain from record ${result.through + 1} on. Keep the file: audit verify checks from record ${result.through}'s hash.\n`,
      );
      return 0;
    });
  }
  if (sub === 'export') {
    let values;
    try {
      values = parseArgs({ args: rest, options: { since: { type: 'string' }, out: { type: 'string' } }, strict: true }).values;
    } catch (err) {
      io.stderr.write(`countersign: ${(err as Error).message}\n\n${AUDIT_USAGE}`);
      return 2;
    }
    const since = values.since === undefined ? undefined : parseSince(values.since, io.now());
    if (since === undefined) {
      io.stderr.write(`countersign: --since needs a time (2026-11-20T00:00:00Z) or a span back from now (24h, 7d)\n\n${AUDIT_USAGE}`);
      return 2;
    }
    return withRedis(io, async (redis) => {
      if (!values.out) {
        // Written as fast as the reader takes it (memory stays flat); a reader that goes away
        // (`| head`) ends the export quietly.
        const out = io.stdout as AuditIo['stdout'] & Partial<Pick<NodeJS.WritableStream, 'once' | 'off'>>;
        let gone = false;
        const onError = (err: NodeJS.ErrnoException) => {
          if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') gone = true;
        };
        (out as Partial<NodeJS.WritableStream>).on?.('error', onError);
        try {
          const n = await exportAudit(redis, since, (line) => {
            if (gone) throw new ReaderGone();
            if (out.write(`${line}\n`) !== false || !out.once) return;
            return new Promise<void>((resolve) => {
              const done = () => {
                out.off?.('drain', done);
                out.off?.('error', done);
                resolve();
              };
              out.once!('drain', done);
              out.once!('error', done);
            });
          });
          io.stderr.write(`${n} records since ${new Date(since).toISOString()}\n`);
          return 0;
        } catch (err) {
          if (err instanceof ReaderGone) return 0;
          throw err;
        }
        // (The error listener stays: a broken pipe reported after the last write must not crash the exit.)
      }
      const file = createWriteStream(values.out, { flags: 'wx' });
      const opened = new Promise<void>((resolve, reject) => file.once('open', () => resolve()).once('error', reject));
      try {
        await opened;
      } catch (err) {
        io.stderr.write(`countersign: cannot write ${values.out}: ${(err as Error).message}\n`);
        return 2;
      }
      const n = await exportAudit(redis, since, (line) => {
        if (!file.write(`${line}\n`)) return new Promise<void>((resolve) => file.once('drain', () => resolve()));
      });
      await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
      io.stderr.write(`${n} records since ${new Date(since).toISOString()} written to ${values.out}\n`);
      return 0;
    });
  }
  if (sub === undefined || sub === 'help' || sub === '--help') {
    io.stdout.write(AUDIT_USAGE);
    return sub === undefined ? 2 : 0;
  }
  io.stderr.write(`countersign: unknown audit command "${sub}"\n\n${AUDIT_USAGE}`);
  return 2;
}

/** `countersign trace <gate>`. Exit codes: 0 intact chain, 1 chain problems, 2 usage, 3 no such gate. */
export async function traceCommand(args: string[], io: AuditIo): Promise<number> {
  const [id, ...rest] = args;
  if (!id || rest.length > 0 || id === '--help' || id === 'help') {
    io.stdout.write(TRACE_USAGE);
    return id && id !== '--help' && id !== 'help' ? 2 : id ? 0 : 2;
  }
  if (!GATE_ID.test(id)) {
    io.stderr.write(`countersign: "${id.slice(0, 60)}" is not a gate id (g_ and 26 characters)\n`);
    return 2;
  }
  return withRedis(io, async (redis) => {
    const trace = await traceGate(redis, new GateStore(redis), id);
    if (!trace) {
      io.stderr.write(`countersign: no gate ${id} (nothing stored and no audit chain)\n`);
      return 3;
    }
    io.stdout.write(renderTrace(trace));
    return trace.chainProblems.length === 0 ? 0 : 1;
  });
}

/** Which records a verify checked, when some were archived: ` (records 41–57; 1–40 archived, checked)`. */
function deploymentRange(report: { records: number; archivedThrough: number }, withArchive: boolean): string {
  const b = report.archivedThrough;
  if (b === 0) return '';
  const inRedis = report.records > 0 ? `records ${b + 1}–${b + report.records}; ` : '';
  return ` (${inRedis}1–${b} archived, ${withArchive ? 'checked against the archive files' : 'not checked'})`;
}
