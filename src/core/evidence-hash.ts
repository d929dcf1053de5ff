import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { CountersignError, ErrorCode } from './errors.js';

/** `sha256:` followed by 64 lowercase hex digits. */
export const EVIDENCE_HASH = /^sha256:[0-9a-f]{64}$/;

/**
 * RFC 8785 (JCS) canonical JSON of a value. Refuses what JCS cannot represent:
 * non-finite numbers, lone surrogates, and values JSON has no form for.
 */
export function canonicalJson(value: unknown): string {
  return serialize(value, canonicalize, 'canonicalize');
}

/**
 * JSON text of a value, refusing exactly what canonicalJson refuses, with object members in the
 * order they were written rather than sorted. For text whose digest covers its exact bytes and
 * that is never re-serialized before it is checked (audit entries): it costs a fraction of the
 * canonical form, and a value built the same way always gives the same text.
 */
export function exactJson(value: unknown): string {
  return serialize(value, JSON.stringify, 'serialize');
}

/** Checks the value, then writes it with `write`; every refusal is ERR_NOT_CANONICALIZABLE. */
function serialize(value: unknown, write: (value: unknown) => string | undefined, verb: string): string {
  let out: string | undefined;
  try {
    assertCanonicalizable(value, '');
    out = write(value);
  } catch (err) {
    // Values nested deeper than the stack allows (callers bound depth; this is the backstop).
    if (err instanceof RangeError) throw new CountersignError(ErrorCode.NotCanonicalizable, `the value nests too deeply to ${verb}`);
    throw err;
  }
  if (out === undefined) throw new CountersignError(ErrorCode.NotCanonicalizable, 'value has no JSON form');
  return out;
}

/**
 * Throws, naming the first place (a JSON pointer) that JCS cannot represent. The check runs
 * on every hash, so the pointer is only worked out once something is wrong.
 */
function assertCanonicalizable(value: unknown, pointer: string): void {
  if (canonicalizable(value)) return;
  const fail = (at: string, why: string): never => {
    throw new CountersignError(ErrorCode.NotCanonicalizable, `${at || '/'} ${why}`, { issues: [{ pointer: at || '/', message: why }] });
  };
  const find = (item: unknown, at: string): void => {
    const why = problemOf(item);
    if (why) fail(at, why);
    if (typeof item !== 'object' || item === null) return;
    if (Array.isArray(item)) {
      item.forEach((child, i) => find(child, `${at}/${i}`));
      return;
    }
    for (const [key, child] of Object.entries(item as Record<string, unknown>)) {
      if (!key.isWellFormed()) fail(at, 'has a key with a lone surrogate');
      if (child !== undefined) find(child, `${at}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    }
  };
  find(value, pointer);
}

/** What is wrong with this one value itself (not its members), if anything. */
function problemOf(value: unknown): string | undefined {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? undefined : 'is not a finite number (NaN and Infinity have no JSON form)';
    case 'string':
      return value.isWellFormed() ? undefined : 'holds a lone surrogate';
    case 'boolean':
      return undefined;
    case 'object':
      if (value === null || Array.isArray(value)) return undefined;
      return typeof (value as { toJSON?: unknown }).toJSON === 'function' ? 'has a toJSON method; pass plain data' : undefined;
    default:
      return `is a ${typeof value}, which JSON cannot carry`;
  }
}

/** True when JCS can represent the value: the fast walk, allocating nothing. */
function canonicalizable(value: unknown): boolean {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value);
    case 'string':
      return value.isWellFormed();
    case 'boolean':
      return true;
    case 'object': {
      if (value === null) return true;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i += 1) if (!canonicalizable(value[i])) return false;
        return true;
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
      const record = value as Record<string, unknown>;
      for (const key in record) {
        if (!Object.prototype.hasOwnProperty.call(record, key)) continue;
        if (!key.isWellFormed()) return false;
        const child = record[key];
        if (child !== undefined && !canonicalizable(child)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** `sha256:<hex>` of the canonical JSON of any value. */
export function sha256OfJson(value: unknown): string {
  return sha256OfText(canonicalJson(value));
}

const sha256OfText = (text: string) => `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;

/**
 * The evidence hash of a gate request body (DESIGN.md): SHA-256 over the RFC 8785 canonical
 * JSON of the body without `delivery`. Agents, executors and auditors compute the same value.
 */
export function evidenceHash(body: Record<string, unknown>): string {
  return canonicalAction(body).evidenceHash;
}

/**
 * The body without `delivery` as RFC 8785 text, and its evidence hash: intake stores the
 * request as this text, so it is serialized once.
 */
export function canonicalAction(body: Record<string, unknown>): { json: string; evidenceHash: string } {
  const { delivery: _delivery, ...action } = body;
  const json = canonicalJson(action);
  return { json, evidenceHash: sha256OfText(json) };
}
