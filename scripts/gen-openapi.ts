/**
 * Writes openapi.json from the zod schemas (src/adapters/http/openapi-document.ts).
 * `--check` writes nothing and exits 1 when the committed file differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApiText } from '../src/adapters/http/openapi-document.js';

const file = join(import.meta.dirname, '..', 'openapi.json');
const text = openApiText();
if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(file, 'utf8');
  } catch {
    // missing counts as stale
  }
  if (committed !== text) {
    process.stderr.write('openapi.json is stale: run `npm run openapi`\n');
    process.exit(1);
  }
  process.stdout.write('openapi.json is up to date\n');
} else {
  writeFileSync(file, text);
  process.stdout.write(`wrote ${file}\n`);
}
