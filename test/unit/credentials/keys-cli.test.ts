import { describe, expect, test } from '@jest/globals';
import { readdirSync } from 'node:fs';
import { keysCommand, type KeysIo } from '../../../src/cli/keys.js';
import { KeyRing } from '../../../src/adapters/credentials/key-ring.js';
import { T0, tempKeyDir } from './fixtures.js';

function io(env: Record<string, string | undefined> = {}, now = T0) {
  const out: string[] = [];
  const err: string[] = [];
  const value: KeysIo = { out: (l) => void out.push(l), err: (l) => void err.push(l), env, now: () => now };
  return { io: value, out, err };
}

describe('countersign keys', () => {
  test('rotate twice, then list: the new key is current and the old one retired but still published', async () => {
    // Setup and execution: two rotations a minute apart, the second through COUNTERSIGN_KEYS.
    const dir = tempKeyDir();
    const first = io({}, T0);
    expect(await keysCommand(['rotate', '--dir', dir], first.io)).toBe(0);
    const second = io({ COUNTERSIGN_KEYS: dir }, T0 + 60_000);
    expect(await keysCommand(['rotate'], second.io)).toBe(0);
    const list = io({ COUNTERSIGN_KEYS: dir }, T0 + 120_000);
    expect(await keysCommand(['list'], list.io)).toBe(0);

    // Validation: what the operator reads matches the ring the service loads.
    const newKid = /new signing key (\S+)/.exec(second.out.join('\n'))?.[1];
    const oldKid = /new signing key (\S+)/.exec(first.out.join('\n'))?.[1];
    expect(second.out.join('\n')).toContain(`retired ${oldKid}`);
    const ring = await KeyRing.load(dir, { now: T0 + 120_000, maxGrantTtlSeconds: 3600 });
    expect(ring.current().kid).toBe(newKid);
    expect(list.out[0]).toMatch(/^KID\s+STATUS\s+CREATED/);
    expect(list.out[1]).toMatch(new RegExp(`^${newKid}\\s+current\\s+2026-01-15T09:01:00Z`));
    expect(list.out[2]).toMatch(new RegExp(`^${oldKid}\\s+retired\\s+.*2026-01-15T10:06:00Z$`));
    expect(readdirSync(dir)).toHaveLength(2);
  });

  test('list --json gives the same facts to scripts', async () => {
    const dir = tempKeyDir();
    await keysCommand(['rotate', '--dir', dir], io().io);
    const list = io();
    expect(await keysCommand(['list', '--dir', dir, '--json'], list.io)).toBe(0);
    const doc = JSON.parse(list.out.join('\n'));
    expect(doc.keys).toEqual([expect.objectContaining({ status: 'current', createdAt: T0, publishedUntil: null })]);
  });

  test('usage errors exit 2 with the usage text; a broken key directory exits 1', async () => {
    const none = io();
    expect(await keysCommand(['rotate'], none.io)).toBe(2);
    expect(none.err.join('\n')).toMatch(/pass --dir or set COUNTERSIGN_KEYS[\s\S]*usage: countersign keys/);
    const bad = io();
    expect(await keysCommand(['spin', '--dir', '/tmp'], bad.io)).toBe(2);
    expect(await keysCommand(['rotate', '--dir', '/tmp', '--activate-after', 'soon'], io().io)).toBe(2);
    expect(await keysCommand(['list', '--dir', '/tmp', '--bogus'], io().io)).toBe(2);
    const missing = io();
    expect(await keysCommand(['list', '--dir', `${tempKeyDir()}/absent`], missing.io)).toBe(1);
    expect(missing.err.join('\n')).toMatch(/cannot read key directory/);
  });
});
