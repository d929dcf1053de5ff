import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { LiteralIndex } from '../../../src/core/policy/literal-index.js';
import { compileGlob, compileGlobs, ResourceIndex } from '../../../src/core/policy/patterns.js';
import { policyOf } from './support.js';

/** The meaning of a glob, written the slow and obvious way. */
function reference(pattern: string, value: string): boolean {
  const source = [...pattern].map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'))).join('');
  return new RegExp(`^${source}$`, 's').test(value);
}

// Small alphabets make overlaps (and so the tricky cases) likely.
const text = fc.string({ unit: fc.constantFrom('a', 'b', '/', '.'), maxLength: 12 });
const pattern = fc.string({ unit: fc.constantFrom('a', 'b', '/', '.', '*', '?'), maxLength: 8 });

describe('globs', () => {
  test('`*` spans dots and slashes, `?` is one character, the rest is literal', () => {
    expect(compileGlob('iam.*').test('iam.attach_role_policy')).toBe(true);
    expect(compileGlob('iam.*').test('iamx.attach')).toBe(false);
    expect(compileGlob('prod-*/checkout').test('prod-eu/west/checkout')).toBe(true);
    expect(compileGlob('s3://*audit-log*').test('s3://acme-audit-logs/2026/')).toBe(true);
    expect(compileGlob('arn:aws:iam::*:role/Org?').test('arn:aws:iam::1:role/OrgA')).toBe(true);
    expect(compileGlob('a.b').test('aXb')).toBe(false);
    expect(compileGlobs(['prod', 'prod-*']).test('production')).toBe(false);
  });

  test('agree with a regular expression on any pattern and value', () => {
    fc.assert(fc.property(pattern, text, (p, v) => expect(compileGlob(p).test(v)).toBe(reference(p, v))), { numRuns: 3000 });
  });
});

describe('LiteralIndex', () => {
  test('finds exactly the literals that occur in a text', () => {
    fc.assert(
      fc.property(fc.array(text, { maxLength: 12 }), text, (literals, value) => {
        const seen = new Uint8Array(literals.length);
        new LiteralIndex(literals).find(value, seen);
        expect([...seen].map(Boolean)).toEqual(literals.map((l) => l !== '' && value.includes(l)));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('ResourceIndex', () => {
  test('returns the same entries as testing every pattern, for large and small groups', () => {
    const entry = fc.record({ type: fc.constantFrom('k8s.deployment', 'aws.*', '*', 'aws.s3_bucket'), id: pattern });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 30 }), fc.constantFrom('k8s.deployment', 'aws.s3_bucket', 'gcp.bucket'), text, (entries, type, id) => {
        const items = entries.map((e, i) => ({ i, match: [e] }));
        const index = new ResourceIndex(items, (item) => item.match);
        const expected = items.filter((it) => reference(it.match[0]!.type, type) && reference(it.match[0]!.id, id)).map((it) => it.i);
        expect([...index.lookup({ type, id })].map((it) => it.i).sort((a, b) => a - b)).toEqual(expected);
        // The memo answers the second time, with the same entries.
        expect([...index.lookup({ type, id })].map((it) => it.i).sort((a, b) => a - b)).toEqual(expected);
      }),
      { numRuns: 1500 },
    );
  });
});

describe('the rule index of a policy set', () => {
  test('offers, in rule order, exactly the rules whose action patterns match', () => {
    const actions = ['a.b', 'a.c', 'a.b.c', 'b.a', 'a-b.c'];
    const patterns = [...actions, 'a.*', 'a.b.*', '*', '*.c', 'a?b.c', 'b.*'];
    fc.assert(
      fc.property(fc.array(fc.subarray(patterns, { minLength: 1 }), { minLength: 1, maxLength: 12 }), fc.constantFrom(...actions, 'c.d'), (rulePatterns, action) => {
        const policy = policyOf((doc) => {
          doc.actions.push(...actions.map((id) => ({ id, reversibility: 'reversible' })));
          doc.rules = rulePatterns.map((p, i) => ({ id: `r${i}`, outcome: 'allow', match: { actions: p } }));
        });
        const naive = rulePatterns.flatMap((p, i) => (compileGlobs(p).test(action) ? [`r${i}`] : []));
        expect(policy.index.rulesFor(action).map((r) => r.rule.id)).toEqual(naive);
      }),
      { numRuns: 300 },
    );
  });
});
