/**
 * Identifier formats. Ids are time-ordered (48-bit ms time, then randomness, Crockford base32)
 * and contain no `:` so they are safe in BullMQ job ids and Redis hash tags.
 */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export const GATE_ID = /^g_[0-9A-HJKMNP-TV-Z]{26}$/;
export const GRANT_ID = /^gr_[0-9A-HJKMNP-TV-Z]{26}$/;

/** Encodes time + 10 random bytes as a 26-character ULID body. `random` must hold ≥ 10 bytes. */
export function ulidBody(now: number, random: Uint8Array): string {
  let out = '';
  let time = Math.max(0, Math.floor(now));
  for (let i = 0; i < 10; i += 1) {
    out = CROCKFORD[time % 32]! + out;
    time = Math.floor(time / 32);
  }
  // 80 random bits → 16 characters of 5 bits.
  let bits = 0;
  let acc = 0;
  for (let i = 0; i < 10; i += 1) {
    acc = (acc << 8) | random[i]!;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD[(acc >> bits) & 31]!;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** Source of fresh ids; injected so tests can make them predictable. */
export interface IdSource {
  gateId(now: number): string;
  grantId(now: number): string;
}

/** Builds an IdSource over a random-bytes function. */
export function idSource(randomBytes: (n: number) => Uint8Array): IdSource {
  return {
    gateId: (now) => `g_${ulidBody(now, randomBytes(10))}`,
    grantId: (now) => `gr_${ulidBody(now, randomBytes(10))}`,
  };
}

/**
 * Hands out random bytes from chunks of `chunk` bytes drawn at once: a gate or grant id needs
 * 10, and one `randomBytes(4096)` costs about what one `randomBytes(10)` does. Each byte is
 * handed out once; a request larger than a chunk is drawn on its own.
 */
export function bufferedRandom(draw: (n: number) => Uint8Array, chunk = 4096): (n: number) => Uint8Array {
  let pool: Uint8Array = new Uint8Array(0);
  let used = 0;
  return (n) => {
    if (n > chunk) return draw(n);
    if (used + n > pool.length) {
      pool = draw(chunk);
      used = 0;
    }
    used += n;
    return pool.subarray(used - n, used);
  };
}
