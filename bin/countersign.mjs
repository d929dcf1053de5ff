#!/usr/bin/env node
// The `countersign` command. Runs the TypeScript sources directly through SWC, so the CLI and
// the server are always the same code.
import { register } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.env.SWC_NODE_PROJECT ??= join(root, 'tsconfig.json');
register('@swc-node/register/esm', pathToFileURL(join(root, 'package.json')));
const { main } = await import(pathToFileURL(join(root, 'src/cli/main.ts')).href);
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  // Commands report what they expect themselves; anything else is one line, not a stack trace.
  process.stderr.write(`countersign: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
