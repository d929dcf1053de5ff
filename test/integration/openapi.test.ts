import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApiDocument, openApiText } from '../../src/adapters/http/openapi-document.js';
import { evidenceHash } from '../../src/core/evidence-hash.js';
import { call, signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';
import { approve, changeRecord, eventually, startSlackTestApp, type SlackTestApp } from '../support/slack.js';

/**
 * openapi.json: committed, current, a valid OpenAPI 3.1 document covering every route of the
 * design, served at /openapi.json — and true: real answers of the running app match it.
 */

const REPO = join(import.meta.dirname, '../..');
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
type Doc = { paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };

/** DESIGN.md, "HTTP API": every route an agent, executor, operator or Slack uses. */
const DESIGN_ROUTES = [
  ['post', '/v1/gates'],
  ['get', '/v1/gates/{id}'],
  ['post', '/v1/gates/{id}/cancel'],
  ['post', '/v1/gates/{id}/redeem'],
  ['post', '/v1/gates/{id}/outcome'],
  ['post', '/v1/grants/introspect'],
  ['get', '/.well-known/jwks.json'],
  ['get', '/healthz'],
  ['get', '/readyz'],
  ['get', '/metrics'],
  ['post', '/slack/events'],
] as const;

describe('the committed document', () => {
  test('is what the zod schemas generate (run `npm run openapi` after changing them)', () => {
    const committed = readFileSync(join(REPO, 'openapi.json'), 'utf8');
    expect(committed === openApiText() ? 'current' : 'stale: run `npm run openapi` and commit openapi.json').toBe('current');
  });

  test('is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(JSON.parse(readFileSync(join(REPO, 'openapi.json'), 'utf8')));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  test('validation would catch a broken document', async () => {
    const broken = openApiDocument() as Doc;
    (broken.paths['/v1/gates'] as { post: { responses: unknown } }).post.responses = 'none';
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  test('documents every route of the design', () => {
    const doc = openApiDocument() as Doc;
    for (const [method, path] of DESIGN_ROUTES) expect(`${method} ${path}: ${doc.paths[path]?.[method] ? 'documented' : 'missing'}`).toBe(`${method} ${path}: documented`);
  });

  test('its GateRequest schema accepts every example and refuses an unknown field', () => {
    const validate = schemaValidator('GateRequest');
    for (const file of readdirSync(join(REPO, 'examples'))) {
      const body = JSON.parse(readFileSync(join(REPO, 'examples', file), 'utf8'));
      expect([file, validate(body), validate.errors]).toEqual([file, true, null]);
    }
    expect(validate({ ...example('logs-read-only'), sneaky: true })).toBe(false);
  });
});

function schemaValidator(name: string) {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  ajv.addSchema({ $id: 'https://countersign.test/openapi.json', ...(openApiDocument() as object) });
  return ajv.compile({ $ref: `https://countersign.test/openapi.json#/components/schemas/${name}` });
}

describe('the running app', () => {
  let t: SlackTestApp;
  beforeAll(async () => {
    t = await startSlackTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  /** Asserts that a real answer matches its documented schema. */
  function matches(name: string, body: unknown): void {
    const validate = schemaValidator(name);
    const ok = validate(body);
    expect([name, ok ? 'matches' : validate.errors]).toEqual([name, 'matches']);
  }

  test('serves the document at /openapi.json', async () => {
    const answer = await call(t.app.url, 'GET', '/openapi.json');
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect(answer.text).toBe(openApiText());
  });

  test('answers as documented along the whole path: create, read, vote, redeem, introspect, outcome', async () => {
    // Create and read
    const created = await signedCall(t.app.url, 'iam-agent', t.secrets['iam-agent']!, 'POST', '/v1/gates', { json: example('iam-attach-admin-policy') });
    expect(created.status).toBe(201);
    matches('Gate', created.body);
    const id = created.body.id as string;
    await eventually(() => changeRecord(t.slack, id));
    await approve(t, id, 'grace');
    await eventually(async () => (await t.app.ctx.store.read(id))?.votes.length === 1);
    await approve(t, id, 'omar');
    await eventually(async () => (await t.app.ctx.store.read(id))?.state === 'approved');
    const read = await signedCall(t.app.url, 'iam-agent', t.secrets['iam-agent']!, 'GET', `/v1/gates/${id}`);
    matches('Gate', read.body);
    expect(read.body.votes).toHaveLength(2);
    // Redeem and consume
    const redeemed = await signedCall(t.app.url, 'iam-agent', t.secrets['iam-agent']!, 'POST', `/v1/gates/${id}/redeem`, { json: { evidenceHash: evidenceHash(example('iam-attach-admin-policy')) } });
    expect(redeemed.status).toBe(200);
    matches('RedeemedGrant', redeemed.body);
    const first = await signedCall(t.app.url, 'iam-broker', t.secrets['iam-broker']!, 'POST', '/v1/grants/introspect', { json: { token: redeemed.body.grant } });
    matches('IntrospectionAnswer', first.body);
    expect(first.body.active).toBe(true);
    const second = await signedCall(t.app.url, 'iam-broker', t.secrets['iam-broker']!, 'POST', '/v1/grants/introspect', { json: { token: redeemed.body.grant } });
    matches('IntrospectionAnswer', second.body);
    expect(second.body).toEqual({ active: false, reason: 'already_used' });
    // Outcome
    const outcome = await signedCall(t.app.url, 'iam-agent', t.secrets['iam-agent']!, 'POST', `/v1/gates/${id}/outcome`, { json: { status: 'succeeded', calls: [{ action: 'iam.attach_role_policy', status: 200 }] } });
    expect(outcome.status).toBe(200);
    matches('Gate', outcome.body);
  }, 30_000);

  test('answers as documented for cancel, problems, keys and health', async () => {
    const created = await signedCall(t.app.url, 'terraform-bot', t.secrets['terraform-bot']!, 'POST', '/v1/gates', { json: example('terraform-apply-prod') });
    const cancelled = await signedCall(t.app.url, 'terraform-bot', t.secrets['terraform-bot']!, 'POST', `/v1/gates/${created.body.id}/cancel`, { json: { reason: 'superseded' } });
    matches('Gate', cancelled.body);
    const invalid = await signedCall(t.app.url, 'terraform-bot', t.secrets['terraform-bot']!, 'POST', '/v1/gates', { json: { ...example('terraform-apply-prod'), environment: 'Prod EU' } });
    expect(invalid.status).toBe(422);
    expect(invalid.headers.get('content-type')).toBe('application/problem+json');
    matches('Problem', invalid.body);
    const unauthenticated = await call(t.app.url, 'GET', `/v1/gates/${created.body.id}`);
    matches('Problem', unauthenticated.body);
    matches('Jwks', (await call(t.app.url, 'GET', '/.well-known/jwks.json')).body);
    matches('Health', (await call(t.app.url, 'GET', '/healthz')).body);
    matches('Readiness', (await call(t.app.url, 'GET', '/readyz')).body);
  });
});
