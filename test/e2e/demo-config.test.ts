import { expect, test } from '@jest/globals';
import { startDemo } from './demo-process.js';

/** `npm run demo` refuses a bad setting as `npm start` does: named, one line each, no stack trace. */
test('a bad LOG_LEVEL stops the demo with the variable named, before anything starts', async () => {
  const demo = startDemo({ LOG_LEVEL: 'verbose' });
  try {
    const code = await new Promise<number | null>((resolve) => demo.child.once('close', (c: number | null) => resolve(c)));
    expect(code).toBe(1);
    expect(demo.output()).toBe('countersign demo: invalid configuration:\n  LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent\n');
  } finally {
    demo.cleanup();
  }
}, 30_000);

test('a SANDBOX_PORT that is not a port stops the demo with the variable named', async () => {
  const demo = startDemo({ SANDBOX_PORT: 'abc' });
  try {
    const code = await new Promise<number | null>((resolve) => demo.child.once('close', (c: number | null) => resolve(c)));
    expect(code).toBe(1);
    expect(demo.output()).toBe('countersign demo: invalid configuration:\n  SANDBOX_PORT must be a port number (0–65535, digits only)\n');
  } finally {
    demo.cleanup();
  }
}, 30_000);
