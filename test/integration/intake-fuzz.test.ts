import { afterAll, beforeAll, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { readdirSync } from 'node:fs';
import { startTestApp, type TestApp } from '../support/app.js';
import { signedCall } from '../support/agent-http.js';
import { example, EXAMPLES_DIR } from '../support/gates.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t.close();
});

const examples = readdirSync(EXAMPLES_DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => example(f.replace(/\.json$/, '')) as unknown as Record<string, unknown>);

/** Hostile values: wrong types, huge or odd strings, deep nesting, lone surrogates, numbers at the edges. */
const hostile = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.constantFrom('\ud800', 'x\udfff', '', ' ', '../../etc/passwd', '<script>', 'k8s.deploy', 'production', 'http://evil.example.com', 'https://ok.example.com/cb', '1e400'),
  fc.constantFrom(-0, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 0.1),
  fc.integer({ min: 1, max: 30 }).map((depth) => {
    let v: unknown = 1;
    for (let i = 0; i < depth * 3; i += 1) v = { d: v };
    return v;
  }),
  fc.array(fc.constant({ type: 'x', id: 'y' }), { maxLength: 150 }),
);

/** A JSON pointer-ish path into an object, and a mutation applied there. */
function mutate(body: unknown, path: string[], op: 'set' | 'delete' | 'add', value: unknown): unknown {
  const copy = structuredClone(body) as Record<string, unknown>;
  let node: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (!next || typeof next !== 'object') return copy;
    node = next as Record<string, unknown>;
  }
  const last = path.at(-1)!;
  if (op === 'delete') delete node[last];
  else if (op === 'add') node[`${last}_extra`] = value;
  else node[last] = value;
  return copy;
}

function pathsOf(value: unknown, prefix: string[] = []): string[][] {
  if (!value || typeof value !== 'object') return [prefix];
  const entries = Object.entries(value as Record<string, unknown>);
  return [prefix, ...entries.flatMap(([k, v]) => pathsOf(v, [...prefix, k]))].filter((p) => p.length > 0);
}

test('1,000+ generated and mutated bodies: never a 5xx, every error is problem+json', async () => {
  const bodies = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...examples), fc.nat(), fc.constantFrom('set', 'delete', 'add') as fc.Arbitrary<'set' | 'delete' | 'add'>, hostile).map(([base, i, op, value]) => {
      const paths = pathsOf(base);
      return JSON.stringify(mutate(base, paths[i % paths.length]!, op, value));
    }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...examples), fc.nat(), fc.nat({ max: 40 })).map(([base, cut, len]) => {
      // Truncated or spliced JSON text.
      const text = JSON.stringify(base);
      const at = cut % text.length;
      return text.slice(0, at) + text.slice(at + len);
    }) },
  );
  const seen: Record<number, number> = {};
  await fc.assert(
    fc.asyncProperty(bodies, async (raw) => {
      const answer = await signedCall(t.app.url, 'demo-agent', t.secrets['demo-agent']!, 'POST', '/v1/gates', { raw });
      seen[answer.status] = (seen[answer.status] ?? 0) + 1;
      expect(answer.status).toBeLessThan(500);
      if (answer.status >= 400) {
        expect(answer.headers.get('content-type')).toBe('application/problem+json');
        expect(answer.body).toMatchObject({ type: expect.any(String), title: expect.any(String), status: answer.status, detail: expect.any(String) });
      } else {
        expect(answer.body.id).toMatch(/^g_/);
      }
    }),
    { numRuns: 1200 },
  );
  // The generator must reach both sides of validation, or the property proves little.
  expect(seen[422] ?? 0).toBeGreaterThan(100);
  expect((seen[201] ?? 0) + (seen[200] ?? 0)).toBeGreaterThan(20);
  expect(seen[400] ?? 0).toBeGreaterThan(20);
}, 120_000);
