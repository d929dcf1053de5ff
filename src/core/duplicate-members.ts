/**
 * I-JSON (RFC 7493 §2.3) forbids an object from naming a member twice, and RFC 8785 hashes
 * I-JSON only. `JSON.parse` keeps the last of two equal names silently, while other parsers
 * keep the first: a body with `"action": "k8s.deploy", …, "action": "iam.change"` would be
 * one action to us and another to a proxy, an executor or a reviewer's tool. So bodies that
 * repeat a name are refused, and this finds the first repeat.
 */

/** One open object or array, as the scan walks into it. */
interface Frame {
  /** The names seen so far (objects), or undefined (arrays). */
  names: Set<string> | undefined;
  /** Where this container sits in its parent (a member name or an array index). */
  segment: string;
  /** The last member name (objects) or the current index (arrays): where a child container sits. */
  at: string;
  index: number;
}

/**
 * The whole number a JSON number literal denotes exactly (`9007199254740993.0`,
 * `90071992547409930E-1`), or undefined when it has a fractional part.
 */
function wholeValueOf(literal: string): bigint | undefined {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(literal);
  if (!m) return undefined;
  const [, sign, whole, fraction = '', exponent = '0'] = m;
  const scale = Number(exponent) - fraction.length;
  if (!Number.isSafeInteger(scale) || Math.abs(scale) > 10_000) return undefined;
  let digits = BigInt(`${whole}${fraction}`);
  if (scale >= 0) digits *= 10n ** BigInt(scale);
  else {
    const unit = 10n ** BigInt(-scale);
    if (digits % unit !== 0n) return undefined;
    digits /= unit;
  }
  return sign ? -digits : digits;
}

/** The integer a number's JavaScript form (`9007199254740992`, `1.2e+21`) denotes. */
function integerOf(form: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e\+?(\d+))?$/.exec(form);
  if (!m) return 0n;
  const [, sign, whole, fraction = '', exponent = '0'] = m;
  const scale = Number(exponent) - fraction.length;
  const digits = BigInt(`${whole}${fraction}`);
  const value = scale >= 0 ? digits * 10n ** BigInt(scale) : digits / 10n ** BigInt(-scale);
  return sign ? -value : value;
}

/** A JSON pointer token (RFC 6901). */
const token = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * The first member an object repeats, the first named `__proto__` (`reserved`), or the first
 * whole number beyond ±(2^53 − 1) not written as the number it is shown and hashed as
 * (`unsafeInteger`, with the member or index holding it): its name and JSON pointer, or undefined. Names are compared after unescaping (`"a"` and `"\u0061"` are the same name).
 * `text` must be valid JSON (call it after `JSON.parse` succeeded). Iterative: no nesting
 * depth can overflow the stack.
 */
export function firstDuplicateMember(text: string): { pointer: string; name: string; reserved?: true; unsafeInteger?: string } | undefined {
  const stack: Frame[] = [];
  let expectName = false;
  const pointerOf = () =>
    stack
      .slice(1)
      .map((f) => `/${token(f.segment)}`)
      .join('');
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      for (; j < text.length; j += 1) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) {
          escaped = true;
          j += 1;
        } else if (d === 0x22) break;
      }
      const top = stack[stack.length - 1];
      if (expectName && top?.names) {
        const name = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (top.names.has(name)) return { pointer: `${pointerOf()}/${token(name)}`, name };
        // JSON.parse makes `__proto__` an own member, but most code (schema libraries
        // included) drops or misreads it: it would be hashed, yet never seen or validated.
        if (name === '__proto__') return { pointer: `${pointerOf()}/${token(name)}`, name, reserved: true };
        top.names.add(name);
        top.at = name;
        expectName = false;
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const parent = stack[stack.length - 1];
      const object = c === 0x7b;
      stack.push({ names: object ? new Set() : undefined, segment: parent?.at ?? '', at: '0', index: 0 });
      expectName = object;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectName = false;
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top?.names) expectName = true;
      else if (top) top.at = String((top.index += 1));
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      // I-JSON (§2.2): a number whose exact value is a whole number beyond ±(2^53 − 1) is read
      // by JSON.parse as the nearest double (and so hashed and shown as that), but exactly by
      // parsers with 64-bit or arbitrary integers. It is accepted only when it is written as the
      // number shown and hashed (its shortest form, RFC 8785 §3.2.2.3), whatever its notation.
      let j = i + 1;
      for (; j < text.length; j += 1) {
        const d = text.charCodeAt(j);
        if (!(d === 0x2d || d === 0x2b || d === 0x2e || d === 0x65 || d === 0x45 || (d >= 0x30 && d <= 0x39))) break;
      }
      const literal = text.slice(i, j);
      const n = Number(literal);
      if (!Number.isSafeInteger(n) && Math.abs(n) >= 2 ** 53) {
        const exact = wholeValueOf(literal);
        if (exact !== undefined && exact !== integerOf(String(n))) {
          const top = stack[stack.length - 1];
          return { pointer: top ? `${pointerOf()}/${token(top.at)}` : '', name: top?.at ?? '', unsafeInteger: literal };
        }
      }
      i = j - 1;
    }
  }
  return undefined;
}
