import { z } from 'zod';
import { PolicyFile } from './schema.js';

/**
 * The JSON Schema of one policy file, generated from the same zod schema the loader uses, so
 * editors (via `# yaml-language-server: $schema=./schema.json`) and the loader never disagree.
 * Input shape: fields with defaults are optional. Committed as policies/schema.json.
 */
export function policyFileJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(PolicyFile, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    title: 'Countersign policy file',
    description:
      'One file of a Countersign policy set (policies/*.yaml). Any subset of the sections; files are merged in name order.',
    ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema')),
  };
}

/** The committed file's exact text. */
export function policyFileJsonSchemaText(): string {
  return `${JSON.stringify(policyFileJsonSchema(), null, 2)}\n`;
}
