import { expect, test } from '@jest/globals';
import { startDemo } from './demo-process.js';

/** `npm run demo` refuses a bad setting as `npm start` does: named, one line each, no stack trace. */
async function refusal(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  const demo = startDemo(env);
  try {
    const code = await new Promise<number | null>((resolve) => demo.child.once('close', (c: number | null) => resolve(c)));
    return { code, output: demo.output() };
  } finally {
    demo.cleanup();
  }
}

test('a bad LOG_LEVEL stops the demo with the variable named, before anything starts', async () => {
  expect(await refusal({ LOG_LEVEL: 'verbose' })).toEqual({
    code: 1,
    output: 'countersign demo: invalid configuration:\n  LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent\n',
  });
}, 30_000);

test('a SANDBOX_PORT that is not a port stops the demo with the variable named', async () => {
  expect(await refusal({ SANDBOX_PORT: 'abc' })).toEqual({
    code: 1,
    output: 'countersign demo: invalid configuration:\n  SANDBOX_PORT must be a port number (0–65535, digits only)\n',
  });
}, 30_000);
