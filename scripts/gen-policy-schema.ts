import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { policyFileJsonSchemaText } from '../src/core/policy/json-schema.js';

/**
 * Regenerates policies/schema.json from the zod schemas of the policy files:
 *   node --import @swc-node/register/esm-register scripts/gen-policy-schema.ts
 * A unit test fails while the committed file differs from what this writes.
 */
const target = join(import.meta.dirname, '../policies/schema.json');
await writeFile(target, policyFileJsonSchemaText());
process.stdout.write(`wrote ${target}\n`);
