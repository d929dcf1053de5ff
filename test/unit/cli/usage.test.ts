import { describe, expect, it, jest } from '@jest/globals';
import { main } from '../../../src/cli/main.js';

async function helpText(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    return { code: await main(argv), out };
  } finally {
    write.mockRestore();
  }
}

describe('countersign help', () => {
  it('lists every audit subcommand that `countersign audit help` lists', async () => {
    const top = await helpText(['help']);
    const audit = await helpText(['audit', 'help']);
    expect(top.code).toBe(0);
    expect(audit.code).toBe(0);
    const subcommands = [...audit.out.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]);
    expect(subcommands).toEqual(expect.arrayContaining(['verify', 'head', 'archive', 'export']));
    for (const sub of subcommands) expect(top.out).toMatch(new RegExp(`^ {2}audit ${sub}\\b`, 'm'));
  });
});
