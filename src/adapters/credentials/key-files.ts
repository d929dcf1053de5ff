import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { CountersignError, ErrorCode } from '../../core/errors.js';
import { GRANT_ALG } from './grant-claims.js';

/**
 * The signing keys on disk (`COUNTERSIGN_KEYS`): one file `<kid>.json` per key, holding an EC
 * P-256 private JWK plus three lifecycle members. RFC 7517 §4 lets a JWK carry members its
 * readers do not understand, so the file stays a valid JWK for any tool:
 *
 * ```json
 * { "kty": "EC", "crv": "P-256", "x": "…", "y": "…", "d": "…", "kid": "cs-20260115-…",
 *   "alg": "ES256", "use": "sig",
 *   "createdAt": "2026-01-15T09:00:00.000Z", "activatesAt": "…", "retiredAt": "…" }
 * ```
 *
 * `activatesAt` (default `createdAt`) lets a rotation publish the next key before it signs;
 * `retiredAt` is when it stopped signing. Times are ISO 8601 so an operator can read them.
 */

/** Extra time a retired key stays published beyond `maxGrantTtl`: clock skew between replicas
 * and executors, verifier clock tolerance, and replicas that have not reloaded the ring yet. */
export const PUBLICATION_MARGIN_SECONDS = 300;

const KID = /^[A-Za-z0-9_-]{1,64}$/;
const isoTime = z.iso.datetime({ offset: true });
const b64u = z.string().regex(/^[A-Za-z0-9_-]+$/);

/** A key file as read from disk. */
export const KeyFileSchema = z.object({
  kty: z.literal('EC'),
  crv: z.literal('P-256'),
  x: b64u,
  y: b64u,
  d: b64u,
  kid: z.string().regex(KID, { message: 'must be 1–64 characters of A–Z a–z 0–9 _ -' }),
  alg: z.literal(GRANT_ALG),
  use: z.literal('sig'),
  createdAt: isoTime,
  activatesAt: isoTime.optional(),
  retiredAt: isoTime.optional(),
});
export type KeyFile = z.infer<typeof KeyFileSchema>;

/** A key file with its times as epoch milliseconds. */
export interface StoredKey {
  file: string;
  jwk: KeyFile;
  createdAt: number;
  activatesAt: number;
  retiredAt?: number;
}

export interface LifecycleOptions {
  /** Epoch ms. */
  now: number;
  /** The longest grant lifetime the service issues (see MAX_GRANT_TTL_SECONDS). */
  maxGrantTtlSeconds: number;
}

/** The instant after which no grant signed by `key` can still be valid anywhere. */
export function publishedUntil(key: Pick<StoredKey, 'retiredAt'>, maxGrantTtlSeconds: number): number {
  if (key.retiredAt === undefined) return Number.POSITIVE_INFINITY;
  return key.retiredAt + (maxGrantTtlSeconds + PUBLICATION_MARGIN_SECONDS) * 1000;
}

/** The private JWK fields only: what a crypto library should import. */
export function privateJwkOf(file: KeyFile): { kty: 'EC'; crv: 'P-256'; x: string; y: string; d: string; kid: string; alg: string; use: 'sig' } {
  return { kty: file.kty, crv: file.crv, x: file.x, y: file.y, d: file.d, kid: file.kid, alg: file.alg, use: file.use };
}

/** The public JWK of a key: an allow-list of members, so `d` can never slip through. */
export function publicJwkOf(file: Pick<KeyFile, 'kty' | 'crv' | 'x' | 'y' | 'kid' | 'alg' | 'use'>) {
  return { kty: file.kty, crv: file.crv, x: file.x, y: file.y, kid: file.kid, alg: file.alg, use: file.use };
}

const configError = (message: string, cause?: unknown) =>
  new CountersignError(ErrorCode.ConfigInvalid, message, cause === undefined ? {} : { cause });

/** Key files that others than their owner may read (mode bits 0o077 set); `rotate` writes 0600. */
export async function looseKeyFiles(dir: string): Promise<string[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort();
  const modes = await Promise.all(names.map((n) => stat(join(dir, n)).then((s) => s.mode, () => 0)));
  return names.filter((_, i) => (modes[i]! & 0o077) !== 0);
}

/** Reads and validates every `*.json` key file of `dir`. Any bad file stops the start: fail closed. */
export async function readKeyFiles(dir: string): Promise<StoredKey[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw configError(`COUNTERSIGN_KEYS: cannot read key directory ${dir}: ${(err as Error).message}`, err);
  }
  const keys: StoredKey[] = [];
  const seen = new Map<string, string>();
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const file = join(dir, name);
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw configError(`COUNTERSIGN_KEYS: ${file} is not readable JSON: ${(err as Error).message}`, err);
    }
    const parsed = KeyFileSchema.safeParse(raw);
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'} ${i.message}`).join('; ');
      throw configError(`COUNTERSIGN_KEYS: ${file} is not an ES256 signing key file: ${why}`);
    }
    const jwk = parsed.data;
    const other = seen.get(jwk.kid);
    if (other) throw configError(`COUNTERSIGN_KEYS: kid ${jwk.kid} appears in both ${other} and ${file}`);
    seen.set(jwk.kid, file);
    const createdAt = Date.parse(jwk.createdAt);
    keys.push({
      file,
      jwk,
      createdAt,
      activatesAt: jwk.activatesAt ? Date.parse(jwk.activatesAt) : createdAt,
      ...(jwk.retiredAt ? { retiredAt: Date.parse(jwk.retiredAt) } : {}),
    });
  }
  return keys;
}

/** RFC 7638 thumbprint of an EC public key. */
function thumbprint(jwk: { crv: string; x: string; y: string }): string {
  const members = JSON.stringify({ crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y });
  return createHash('sha256').update(members).digest('base64url');
}

/** A fresh P-256 key as a key file. The kid carries the creation day (for operators) and the
 * key's thumbprint prefix (unique, and checkable against the key itself). */
export function generateKeyFile(now: number, activatesAt = now): KeyFile {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y || !jwk.d) throw new Error('P-256 key export failed');
  const day = new Date(now).toISOString().slice(0, 10).replaceAll('-', '');
  const kid = `cs-${day}-${thumbprint({ crv: jwk.crv, x: jwk.x, y: jwk.y }).slice(0, 16)}`;
  return {
    kty: 'EC',
    crv: 'P-256',
    x: jwk.x,
    y: jwk.y,
    d: jwk.d,
    kid,
    alg: GRANT_ALG,
    use: 'sig',
    createdAt: new Date(now).toISOString(),
    ...(activatesAt !== now ? { activatesAt: new Date(activatesAt).toISOString() } : {}),
  };
}

/** Writes a key file atomically (temporary file, then rename) with mode 0600: readers never see
 * half a key, and nobody but the service user can read the private part. */
async function writeKeyFile(dir: string, key: KeyFile, file = join(dir, `${key.kid}.json`)): Promise<string> {
  const tmp = join(dir, `.${key.kid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(key, null, 2)}\n`, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
  return file;
}

/** The key that signs at `now`: the newest active one that is not retired. */
export function currentOf<K extends Pick<StoredKey, 'activatesAt' | 'createdAt' | 'retiredAt'> & { jwk: { kid: string } }>(
  keys: K[],
  now: number,
): K | undefined {
  const signing = keys.filter((k) => k.activatesAt <= now && (k.retiredAt === undefined || k.retiredAt > now));
  signing.sort((a, b) => b.activatesAt - a.activatesAt || b.createdAt - a.createdAt || (a.jwk.kid < b.jwk.kid ? 1 : -1));
  return signing[0];
}

export interface RotateOptions extends LifecycleOptions {
  /**
   * Publish the new key this long before it starts signing (default 0: it signs at once).
   * Set it to the JWKS cache lifetime when executors sit behind caches that ignore an unknown
   * `kid`; the previous key keeps signing until then.
   */
  activateAfterSeconds?: number;
}

export interface RotateResult {
  newKid: string;
  /** The key that was signing before the rotation, now retired (none on a first rotation). */
  retiredKid?: string;
  /** Keys whose publication period had ended, deleted. */
  prunedKids: string[];
}

/**
 * Adds a new signing key to `dir` (created with mode 0700 if missing), retires every key that
 * was still unretired, and deletes keys no grant can depend on any more. The new key is written
 * before the old ones are retired, so a crash in between leaves two signing keys, never none.
 */
export async function rotateKeys(dir: string, options: RotateOptions): Promise<RotateResult> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return withKeyDirLock(dir, () => rotateLocked(dir, options));
}

/** A lock file older than this is left over from a run that died: it is taken over. */
const STALE_LOCK_MS = 60_000;

/**
 * Runs `work` holding the key directory's lock file (`.lock`, created exclusively), so that two
 * rotations at once cannot both retire the same key and leave one new key that never signs.
 */
async function withKeyDirLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const lock = join(dir, '.lock');
  for (let attempt = 0; ; attempt += 1) {
    try {
      const handle = await open(lock, 'wx', 0o600);
      await handle.close();
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') {
        // Not a lock held by someone: the directory is missing, read-only or not ours to write.
        throw new CountersignError(ErrorCode.ConfigInvalid, `COUNTERSIGN_KEYS: cannot write to the key directory ${dir}: ${(err as Error).message}`, { cause: err });
      }
      if (attempt > 0) {
        throw new CountersignError(
          ErrorCode.ConfigInvalid,
          `COUNTERSIGN_KEYS: another rotate or prune is working on ${dir} (${lock} exists); run this again when it is done, or delete the file if none is running`,
          { cause: err },
        );
      }
      const age = Date.now() - (await stat(lock).then((s) => s.mtimeMs, () => Date.now()));
      if (age < STALE_LOCK_MS) {
        throw new CountersignError(ErrorCode.ConfigInvalid, `COUNTERSIGN_KEYS: another rotate or prune is working on ${dir} (${lock} exists); run this again when it is done`);
      }
      await unlink(lock).catch(() => undefined);
    }
  }
  try {
    return await work();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}

async function rotateLocked(dir: string, options: RotateOptions): Promise<RotateResult> {
  const { now, maxGrantTtlSeconds } = options;
  const existing = await readKeyFiles(dir);
  const previous = currentOf(existing, now);
  const activatesAt = now + Math.max(0, options.activateAfterSeconds ?? 0) * 1000;
  const fresh = generateKeyFile(now, activatesAt);
  await writeKeyFile(dir, fresh);
  for (const key of existing) {
    if (key.retiredAt !== undefined) continue;
    await writeKeyFile(dir, { ...key.jwk, retiredAt: new Date(activatesAt).toISOString() }, key.file);
    key.retiredAt = activatesAt;
  }
  const prunedKids = await pruneLocked(dir, { now, maxGrantTtlSeconds }, existing);
  return { newKid: fresh.kid, ...(previous ? { retiredKid: previous.jwk.kid } : {}), prunedKids };
}

/** Deletes the key files whose publication period has ended at `now`; returns their kids. */
export async function pruneKeys(dir: string, options: LifecycleOptions): Promise<string[]> {
  return withKeyDirLock(dir, () => pruneLocked(dir, options));
}

async function pruneLocked(dir: string, options: LifecycleOptions, known?: StoredKey[]): Promise<string[]> {
  const keys = known ?? (await readKeyFiles(dir));
  const pruned: string[] = [];
  for (const key of keys) {
    if (publishedUntil(key, options.maxGrantTtlSeconds) > options.now) continue;
    await unlink(key.file);
    pruned.push(key.jwk.kid);
  }
  return pruned;
}
