import { parseArgs } from 'node:util';
import { isCountersignError } from '../core/errors.js';
import { MAX_GRANT_TTL_SECONDS } from '../adapters/credentials/grant-claims.js';
import { readKeyFiles } from '../adapters/credentials/key-files.js';
import { describeKeys, pruneKeys, rotateKeys, type KeyInfo } from '../adapters/credentials/key-ring.js';

/** What the keys command needs from its surroundings (tests pass their own). */
export interface KeysIo {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
  /** Epoch ms. */
  now(): number;
}

const USAGE = `usage: countersign keys <command> [options]

commands:
  rotate   add a new signing key and retire the current one
  list     show every key and where it stands
  prune    delete keys that no unexpired grant can depend on

options:
  --dir <path>              key directory (default: $COUNTERSIGN_KEYS)
  --max-grant-ttl <s>       longest grant TTL the service issues (default ${MAX_GRANT_TTL_SECONDS})
  --activate-after <s>      rotate: publish the new key this long before it signs (default 0;
                            150 covers JWKS caches, see jwks.ts)
  --json                    list: one JSON document instead of a table`;

const iso = (ms: number | undefined) =>
  ms === undefined ? '-' : Number.isFinite(ms) ? new Date(ms).toISOString().replace('.000Z', 'Z') : 'while unretired';

function table(keys: KeyInfo[]): string[] {
  const rows = [
    ['KID', 'STATUS', 'CREATED', 'SIGNS FROM', 'RETIRED', 'PUBLISHED UNTIL'],
    ...keys.map((k) => [k.kid, k.status, iso(k.createdAt), iso(k.activatesAt), iso(k.retiredAt), iso(k.publishedUntil)]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

function seconds(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new UsageError(`--${name} must be an integer from 0 to ${max}`);
  return n;
}

class UsageError extends Error {}

/**
 * `countersign keys rotate|list|prune`: manages the grant signing keys in COUNTERSIGN_KEYS.
 * Returns the exit code: 0 done, 1 failed, 2 usage error.
 */
export async function keysCommand(argv: string[], io: KeysIo): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        dir: { type: 'string' },
        'max-grant-ttl': { type: 'string' },
        'activate-after': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    const [command, ...extra] = positionals;
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    if (!command || extra.length > 0 || !['rotate', 'list', 'prune'].includes(command)) {
      throw new UsageError(command ? `unknown keys command: ${[command, ...extra].join(' ')}` : 'missing keys command');
    }
    const dir = values.dir ?? io.env.COUNTERSIGN_KEYS;
    if (!dir) throw new UsageError('no key directory: pass --dir or set COUNTERSIGN_KEYS');
    const now = io.now();
    const maxGrantTtlSeconds = seconds(values['max-grant-ttl'], 'max-grant-ttl', MAX_GRANT_TTL_SECONDS, MAX_GRANT_TTL_SECONDS);
    if (maxGrantTtlSeconds < 1) throw new UsageError('--max-grant-ttl must be at least 1');

    if (command === 'rotate') {
      const activateAfterSeconds = seconds(values['activate-after'], 'activate-after', 0, 7 * 24 * 3600);
      const result = await rotateKeys(dir, { now, maxGrantTtlSeconds, activateAfterSeconds });
      const when = activateAfterSeconds > 0 ? ` (signs from ${iso(now + activateAfterSeconds * 1000)})` : '';
      io.out(`new signing key ${result.newKid}${when}`);
      if (result.retiredKid) io.out(`retired ${result.retiredKid}: still published until its grants have expired`);
      for (const kid of result.prunedKids) io.out(`pruned ${kid}`);
      io.out('running replicas pick the new key up at their next key reload');
      return 0;
    }
    if (command === 'prune') {
      const pruned = await pruneKeys(dir, { now, maxGrantTtlSeconds });
      io.out(pruned.length === 0 ? 'nothing to prune' : pruned.map((kid) => `pruned ${kid}`).join('\n'));
      return 0;
    }
    const keys = describeKeys(await readKeyFiles(dir), now, maxGrantTtlSeconds);
    if (values.json) {
      io.out(JSON.stringify({ keys: keys.map((k) => ({ ...k, publishedUntil: Number.isFinite(k.publishedUntil) ? k.publishedUntil : null })) }, null, 2));
    } else if (keys.length === 0) {
      io.out(`no keys in ${dir}; run \`countersign keys rotate --dir ${dir}\``);
    } else {
      for (const line of table(keys)) io.out(line);
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`${(err as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (isCountersignError(err)) {
      io.err(err.message);
      return 1;
    }
    io.err(`keys: ${(err as Error).message}`);
    return 1;
  }
}
