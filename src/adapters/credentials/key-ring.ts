import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { importJWK, type CryptoKey, type JSONWebKeySet } from 'jose';
import { CountersignError, ErrorCode } from '../../core/errors.js';
import { GRANT_ALG, MAX_GRANT_TTL_SECONDS } from './grant-claims.js';
import {
  currentOf,
  generateKeyFile,
  privateJwkOf,
  publicJwkOf,
  publishedUntil,
  readKeyFiles,
  type LifecycleOptions,
  type StoredKey,
} from './key-files.js';

export { pruneKeys, rotateKeys, PUBLICATION_MARGIN_SECONDS, type RotateOptions, type RotateResult } from './key-files.js';

/** A public signing key as the JWKS serves it. */
export type PublicJwk = ReturnType<typeof publicJwkOf>;

/** Where a key stands at a given instant. */
export type KeyStatus = 'pending' | 'current' | 'previous' | 'retired' | 'expired';

/** One key of the ring, for listings. Times are epoch ms; `publishedUntil` is Infinity while unretired. */
export interface KeyInfo {
  kid: string;
  status: KeyStatus;
  createdAt: number;
  activatesAt: number;
  retiredAt?: number;
  publishedUntil: number;
}

interface RingKey {
  kid: string;
  /** A Node KeyObject: grants are signed with node:crypto directly (see grant.ts). */
  privateKey: KeyObject;
  publicKey: CryptoKey;
  publicJwk: PublicJwk;
  createdAt: number;
  activatesAt: number;
  retiredAt?: number;
}

/** The part of a logger the ring needs (pino's Logger fits). */
export interface WarnLogger {
  warn(obj: object, msg: string): void;
}

export const DEVELOPMENT_KEY_WARNING = 'no COUNTERSIGN_KEYS: grants are signed with a throwaway development key';

async function importKey(stored: Pick<StoredKey, 'jwk' | 'createdAt' | 'activatesAt' | 'retiredAt'>): Promise<RingKey> {
  const privateKey = createPrivateKey({ key: privateJwkOf(stored.jwk), format: 'jwk' });
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`key ${stored.jwk.kid} is not a P-256 key`);
  }
  // The published half must be the private key's own: a file whose x/y belong to another key
  // would load and sign, and every grant would fail to verify, with nothing saying why. (Node
  // takes x and y from the JWK as given, so the check is a signature, not a comparison.)
  const probe = Buffer.from(`countersign key check ${stored.jwk.kid}`);
  const published = createPublicKey({ key: publicJwkOf(stored.jwk), format: 'jwk' });
  if (!verify('sha256', probe, published, sign('sha256', probe, privateKey))) {
    throw new Error(`key ${stored.jwk.kid}: its public part (x, y) is not the public half of its private key (d)`);
  }
  const publicJwk = publicJwkOf(stored.jwk);
  const publicKey = (await importJWK(publicJwk, GRANT_ALG)) as CryptoKey;
  return {
    kid: stored.jwk.kid,
    privateKey,
    publicKey,
    publicJwk,
    createdAt: stored.createdAt,
    activatesAt: stored.activatesAt,
    ...(stored.retiredAt !== undefined ? { retiredAt: stored.retiredAt } : {}),
  };
}

/**
 * The grant signing keys: which one signs now, and which public keys executors must still be
 * able to fetch. A snapshot of the key directory; `KeyRingWatcher` reloads it on a schedule.
 * Private keys never leave this object except to sign (`current()` hands one to the minter).
 */
export class KeyRing {
  readonly maxGrantTtlSeconds: number;
  /** True for the in-memory key made when COUNTERSIGN_KEYS is not set. */
  readonly isDevelopment: boolean;
  private readonly keys: RingKey[];
  private readonly loadedAt: number;

  private constructor(keys: RingKey[], options: LifecycleOptions, isDevelopment: boolean) {
    this.keys = keys;
    this.loadedAt = options.now;
    this.maxGrantTtlSeconds = options.maxGrantTtlSeconds;
    this.isDevelopment = isDevelopment;
  }

  /**
   * Loads the key files of `dir` (see key-files.ts). Keys whose publication period ended are
   * skipped. Throws `ERR_CONFIG_INVALID` when a file is bad or no key can sign at `now`.
   */
  static async load(dir: string, options: LifecycleOptions): Promise<KeyRing> {
    assertTtl(options.maxGrantTtlSeconds);
    const stored = (await readKeyFiles(dir)).filter((k) => publishedUntil(k, options.maxGrantTtlSeconds) > options.now);
    if (!currentOf(stored, options.now)) {
      throw new CountersignError(
        ErrorCode.ConfigInvalid,
        `COUNTERSIGN_KEYS: ${dir} holds no key that can sign now; run \`countersign keys rotate --dir ${dir}\``,
      );
    }
    const keys: RingKey[] = [];
    for (const key of stored) {
      try {
        keys.push(await importKey(key));
      } catch (err) {
        throw new CountersignError(ErrorCode.ConfigInvalid, `COUNTERSIGN_KEYS: ${key.file} does not hold a usable P-256 key (${(err as Error).message})`, {
          cause: err,
        });
      }
    }
    return new KeyRing(keys, options, false);
  }

  /**
   * A ring with one key generated in memory, for local runs without COUNTERSIGN_KEYS. Grants it
   * signs stop verifying at the next start, and every replica has a different key, so it warns
   * at every start.
   */
  static async development(
    logger: WarnLogger,
    options: Partial<LifecycleOptions> = {},
  ): Promise<KeyRing> {
    const now = options.now ?? Date.now();
    const maxGrantTtlSeconds = options.maxGrantTtlSeconds ?? MAX_GRANT_TTL_SECONDS;
    assertTtl(maxGrantTtlSeconds);
    const jwk = generateKeyFile(now);
    const key = await importKey({ jwk, createdAt: now, activatesAt: now });
    logger.warn(
      { event: 'keys.development', kid: key.kid },
      `${DEVELOPMENT_KEY_WARNING}; they stop verifying at restart and differ per replica. Set COUNTERSIGN_KEYS and run \`countersign keys rotate\` before production use`,
    );
    return new KeyRing([key], { now, maxGrantTtlSeconds }, true);
  }

  /** The key that signs at `now` (default: the load time). */
  current(now: number = this.loadedAt): { kid: string; privateKey: KeyObject } {
    const key = currentOf(
      this.keys.map((k) => ({ ...k, jwk: { kid: k.kid } })),
      now,
    );
    if (!key) {
      throw new CountersignError(ErrorCode.ConfigInvalid, 'the key ring has no key that can sign now; rotate the keys');
    }
    return { kid: key.kid, privateKey: key.privateKey };
  }

  /**
   * The public keys executors must be able to fetch at `now`: every key not retired (including
   * one published ahead of its activation) and every retired key some grant may still depend on.
   * Built from an allow-list of public members: a private `d` can never be served.
   */
  publicJwks(now: number): { keys: PublicJwk[] } & JSONWebKeySet {
    const signing = this.currentKidOrUndefined(now);
    const keys = this.keys
      .filter((k) => publishedUntil(k, this.maxGrantTtlSeconds) > now)
      .sort((a, b) => Number(b.kid === signing) - Number(a.kid === signing) || b.activatesAt - a.activatesAt)
      .map((k) => ({ ...k.publicJwk }));
    return { keys };
  }

  /** The public key for `kid` when it is still published at `now` (used by introspection). */
  verificationKey(kid: string, now: number): CryptoKey | undefined {
    const key = this.keys.find((k) => k.kid === kid);
    if (!key || publishedUntil(key, this.maxGrantTtlSeconds) <= now) return undefined;
    return key.publicKey;
  }

  /** Every loaded key and where it stands at `now`, newest first. */
  describe(now: number): KeyInfo[] {
    return describeKeys(this.keys, now, this.maxGrantTtlSeconds);
  }

  private currentKidOrUndefined(now: number): string | undefined {
    return currentOf(
      this.keys.map((k) => ({ ...k, jwk: { kid: k.kid } })),
      now,
    )?.kid;
  }
}

/** Where each key stands at `now`, newest first (shared by the ring and `keys list`). */
export function describeKeys(
  keys: Array<{ kid?: string; jwk?: { kid: string }; createdAt: number; activatesAt: number; retiredAt?: number }>,
  now: number,
  maxGrantTtlSeconds: number,
): KeyInfo[] {
  const withKid = keys.map((k) => ({ ...k, jwk: { kid: k.jwk?.kid ?? k.kid ?? '' } }));
  const signing = currentOf(withKid, now)?.jwk.kid;
  return withKid
    .map((k): KeyInfo => {
      const until = publishedUntil(k, maxGrantTtlSeconds);
      let status: KeyStatus;
      if (k.jwk.kid === signing) status = 'current';
      else if (until <= now) status = 'expired';
      else if (k.activatesAt > now) status = 'pending';
      else if (k.retiredAt !== undefined && k.retiredAt <= now) status = 'retired';
      else status = 'previous';
      return {
        kid: k.jwk.kid,
        status,
        createdAt: k.createdAt,
        activatesAt: k.activatesAt,
        ...(k.retiredAt !== undefined ? { retiredAt: k.retiredAt } : {}),
        publishedUntil: until,
      };
    })
    .sort((a, b) => b.activatesAt - a.activatesAt || b.createdAt - a.createdAt);
}

function assertTtl(seconds: number): void {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_GRANT_TTL_SECONDS) {
    throw new CountersignError(
      ErrorCode.ConfigInvalid,
      `maxGrantTtlSeconds must be an integer between 1 and ${MAX_GRANT_TTL_SECONDS}, got ${seconds}`,
    );
  }
}
