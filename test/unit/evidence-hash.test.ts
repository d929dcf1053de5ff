import { describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { canonicalAction, canonicalJson, evidenceHash, EVIDENCE_HASH, exactJson } from '../../src/core/evidence-hash.js';
import { isCountersignError } from '../../src/core/errors.js';

const EXAMPLES = join(import.meta.dirname, '../../examples');

describe('canonicalJson (RFC 8785)', () => {
  test('orders keys by UTF-16 code units, recursively (RFC 8785 §3.2.3)', () => {
    // The RFC's own sorting example: keys given in a scrambled order.
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    // Compare the text: JSON.parse would move the integer-like key "1" first again.
    expect(canonicalJson(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  test('serializes numbers as ECMAScript does (RFC 8785 §3.2.2.3, Appendix B samples)', () => {
    const samples: Array<[number, string]> = [
      [0, '0'],
      [-0, '0'],
      [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [9007199254740992, '9007199254740992'],
      [295147905179352830000, '295147905179352830000'],
      [1e21, '1e+21'],
      [1e-7, '1e-7'],
      [0.000001, '0.000001'],
      [333333333.3333333, '333333333.3333333'],
      [-1.5, '-1.5'],
    ];
    for (const [value, text] of samples) expect(canonicalJson(value)).toBe(text);
  });

  test('the RFC example object canonicalizes to its published form (§3.2.2)', () => {
    const input = {
      numbers: [333333333.33333329, 1e30, 4.5, 2e-3, 0.000000000000000000000000001],
      string: '\u20ac$\u000f\u000aA\'\u0042\u0022\u005c\\"\/',
      literals: [null, true, false],
    };
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  test.each([
    ['NaN', { a: Number.NaN }],
    ['Infinity', { a: [Number.POSITIVE_INFINITY] }],
    ['a lone surrogate in a value', { a: '\ud800' }],
    ['a lone surrogate in a key', { ['x\udc00']: 1 }],
    ['a function', { a: () => 1 }],
    ['a bigint', { a: 1n }],
  ])('refuses %s', (_what, value) => {
    let caught: unknown;
    try {
      canonicalJson(value);
    } catch (err) {
      caught = err;
    }
    expect(isCountersignError(caught, 'ERR_NOT_CANONICALIZABLE')).toBe(true);
  });
});

describe('evidenceHash over the shared examples', () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'));

  test('there are examples to check', () => {
    expect(files.length).toBeGreaterThanOrEqual(6);
  });

  /** Rebuilds a value with every object's keys in reverse order. */
  const reverseKeys = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(reverseKeys)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reverseKeys(x)]))
        : v;

  test.each(files)('%s: stable across key order and whitespace, blind to delivery, sensitive to the rest', (file) => {
    const raw = readFileSync(join(EXAMPLES, file), 'utf8');
    const body = JSON.parse(raw) as Record<string, unknown>;
    const hash = evidenceHash(body);
    expect(hash).toMatch(EVIDENCE_HASH);

    // Key order and whitespace do not matter.
    expect(evidenceHash(JSON.parse(JSON.stringify(reverseKeys(body), null, 7)) as Record<string, unknown>)).toBe(hash);
    expect(evidenceHash(JSON.parse(JSON.stringify(body)) as Record<string, unknown>)).toBe(hash);

    // delivery is not hashed.
    const withDelivery = { ...body, delivery: { callbackUrl: 'https://agent.example.com/cb', reviewWindowSeconds: 600 } };
    expect(evidenceHash(withDelivery)).toBe(hash);

    // Every hashed field matters: change each top-level field and each leaf string once.
    for (const key of Object.keys(body).filter((k) => k !== 'delivery')) {
      const changed = { ...body, [key]: mutate(body[key]) };
      expect(evidenceHash(changed)).not.toBe(hash);
      const { [key]: _dropped, ...without } = body;
      expect(evidenceHash(without)).not.toBe(hash);
    }
  });
});

/** Changes a JSON value so that its canonical form differs. */
function mutate(value: unknown): unknown {
  if (typeof value === 'string') return `${value} `;
  if (typeof value === 'number') return value + 1;
  if (Array.isArray(value)) return [...value, 'extra'];
  if (value && typeof value === 'object') return { ...value, extra: true };
  return value === null ? 0 : !value;
}

describe('canonicalJson on values nested past the stack', () => {
  test('is refused as not canonicalizable, never a RangeError', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i += 1) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(expect.objectContaining({ code: 'ERR_NOT_CANONICALIZABLE' }));
  });
});

describe('canonicalAction', () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'));

  test.each(files)('%s: the canonical text of the body without delivery, and the hash of exactly that text', (file) => {
    const body = JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')) as Record<string, unknown>;
    const { delivery: _delivery, ...action } = body;
    const { json, evidenceHash: hash } = canonicalAction({ ...body, delivery: { reviewWindowSeconds: 600 } });
    expect(json).toBe(canonicalJson(action));
    expect(json).not.toContain('"delivery"');
    expect(hash).toBe(`sha256:${createHash('sha256').update(json, 'utf8').digest('hex')}`);
    expect(hash).toBe(evidenceHash(body));
  });
});

describe('exactJson (audit entries)', () => {
  test('keeps the members in the order they were written, at every depth', () => {
    const entry = { event: 'vote', actor: 'slack:U1', at: 1, decision: { risk: 'high', outcome: 'review' }, rules: ['b', 'a'] };
    expect(exactJson(entry)).toBe('{"event":"vote","actor":"slack:U1","at":1,"decision":{"risk":"high","outcome":"review"},"rules":["b","a"]}');
    expect(exactJson(entry)).not.toBe(canonicalJson(entry));
    // Numbers and strings are written as RFC 8785 writes them.
    const leaves = { n: [1e21, 1e-7, -0, 0.1 + 0.2, 9007199254740991], s: 'ünïcödé \u2028 "quoted" \\ \u0007' };
    expect(exactJson(leaves)).toBe(canonicalJson(leaves));
  });

  test.each([
    ['NaN', { at: Number.NaN }, '/at'],
    ['Infinity', { nested: { at: [1, Number.POSITIVE_INFINITY] } }, '/nested/at/1'],
    ['a lone surrogate in a value', { note: 'a\ud800b' }, '/note'],
    ['a lone surrogate in a key', { ['k\udc00']: 1 }, '/'],
    ['a toJSON method', { when: new Date(0) }, '/when'],
    ['a function', { run: () => 1 }, '/run'],
    ['a bigint', { n: 1n }, '/n'],
  ])('refuses %s exactly as canonicalJson does, naming where', (_what, value, pointer) => {
    for (const serialize of [exactJson, canonicalJson]) {
      let thrown: unknown;
      try {
        serialize(value);
      } catch (err) {
        thrown = err;
      }
      expect(isCountersignError(thrown) && thrown.code).toBe('ERR_NOT_CANONICALIZABLE');
      expect(isCountersignError(thrown) && thrown.issues[0]?.pointer).toBe(pointer);
    }
  });

  test('refuses a value with no JSON form and one nested past the stack', () => {
    expect(() => exactJson(undefined)).toThrow(expect.objectContaining({ code: 'ERR_NOT_CANONICALIZABLE' }));
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i += 1) deep = [deep];
    expect(() => exactJson(deep)).toThrow(expect.objectContaining({ code: 'ERR_NOT_CANONICALIZABLE' }));
  });
});
