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
  assertCanonicalizable(value, '');
  const out = canonicalize(value);
  if (out === undefined) {
    throw new CountersignError(ErrorCode.NotCanonicalizable, 'value has no JSON form');
  }
  return out;
}

function assertCanonicalizable(value: unknown, pointer: string): void {
  const fail = (why: string): never => {
    throw new CountersignError(ErrorCode.NotCanonicalizable, `${pointer || '/'} ${why}`, {
      issues: [{ pointer: pointer || '/', message: why }],
    });
  };
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) fail('is not a finite number (NaN and Infinity have no JSON form)');
      return;
    case 'string':
      if (!value.isWellFormed()) fail('holds a lone surrogate');
      return;
    case 'boolean':
      return;
    case 'object':
      if (value === null) return;
      if (Array.isArray(value)) {
        value.forEach((item, i) => assertCanonicalizable(item, `${pointer}/${i}`));
        return;
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') fail('has a toJSON method; pass plain data');
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        if (!key.isWellFormed()) fail('has a key with a lone surrogate');
        if (item === undefined) continue; // JSON drops undefined members, as JSON.stringify does
        assertCanonicalizable(item, `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`);
      }
      return;
    default:
      fail(`is a ${typeof value}, which JSON cannot carry`);
  }
}

/** `sha256:<hex>` of the canonical JSON of any value. */
export function sha256OfJson(value: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(value), 'utf8').digest('hex')}`;
}

/**
 * The evidence hash of a gate request body (DESIGN.md): SHA-256 over the RFC 8785 canonical
 * JSON of the body without `delivery`. Agents, executors and auditors compute the same value.
 */
export function evidenceHash(body: Record<string, unknown>): string {
  const { delivery: _delivery, ...action } = body;
  return sha256OfJson(action);
}
