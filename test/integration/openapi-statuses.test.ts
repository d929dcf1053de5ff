import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';
import { startTestApp, type TestApp } from '../support/app.js';

// Every status and content type the server answers with is one openapi.json documents.
const doc = JSON.parse(readFileSync(join(import.meta.dirname, '../../openapi.json'), 'utf8')) as {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>;
};
const documented = (method: string, path: string, status: number) => Object.keys(doc.paths[path]?.[method]?.responses ?? {}).includes(String(status));

describe('openapi.json vs the running app', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  test('malformed JSON and unknown members on cancel/redeem/outcome/introspect answer a documented status', async () => {
    const s = t.secrets['ops-agent']!;
    const created = await signedCall(t.app.url, 'ops-agent', s, 'POST', '/v1/gates', { json: example('logs-read-only') });
    const id = created.body.id as string;
    const seen: string[] = [];
    const probe = async (label: string, path: string, template: string, raw: string, agent = 'ops-agent') => {
      const a = await signedCall(t.app.url, agent, t.secrets[agent]!, 'POST', path, { raw });
      seen.push(`${label} → ${a.status} ${documented('post', template, a.status) ? 'documented' : 'UNDOCUMENTED'}`);
    };
    await probe('cancel {bad', `/v1/gates/${id}/cancel`, '/v1/gates/{id}/cancel', '{bad');
    await probe('cancel {"foo":1}', `/v1/gates/${id}/cancel`, '/v1/gates/{id}/cancel', '{"foo":1}');
    await probe('redeem {bad', `/v1/gates/${id}/redeem`, '/v1/gates/{id}/redeem', '{bad');
    await probe('outcome {bad', `/v1/gates/${id}/outcome`, '/v1/gates/{id}/outcome', '{bad');
    await probe('introspect {bad', '/v1/grants/introspect', '/v1/grants/introspect', '{bad', 'observability-proxy');
    expect(seen.filter((l) => l.endsWith('UNDOCUMENTED'))).toEqual([]);
  });

  test('the JWKS is served with the documented content type', async () => {
    const a = await call(t.app.url, 'GET', '/.well-known/jwks.json');
    const types = Object.keys(doc.paths['/.well-known/jwks.json']!.get!.responses['200']!.content ?? {});
    expect(types).toContain(a.headers.get('content-type')!.split(';')[0]);
  });
});
