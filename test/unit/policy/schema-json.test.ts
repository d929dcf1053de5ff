import { describe, expect, test } from '@jest/globals';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { policyFileJsonSchemaText } from '../../../src/core/policy/json-schema.js';

const POLICIES = join(import.meta.dirname, '../../../policies');
const committed = readFileSync(join(POLICIES, 'schema.json'), 'utf8');
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

describe('policies/schema.json', () => {
  test('is what the zod schemas generate (run scripts/gen-policy-schema.ts after changing them)', () => {
    expect(committed).toBe(policyFileJsonSchemaText());
  });

  test('accepts every default policy file and rejects an unknown key, as the loader does', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats(ajv);
    const validate = ajv.compile(JSON.parse(committed));
    for (const name of readdirSync(POLICIES).filter((f) => f.endsWith('.yaml'))) {
      expect({ name, valid: validate(parse(readFileSync(join(POLICIES, name), 'utf8'))), errors: validate.errors ?? null }).toEqual({ name, valid: true, errors: null });
    }
    expect(validate({ rules: [{ id: 'x', outcome: 'allow', colour: 'red' }] })).toBe(false);
  });
});
