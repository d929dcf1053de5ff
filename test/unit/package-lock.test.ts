import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
// @ts-expect-error: a plain ES module script without type declarations
import { missingPlatformEntries, platformOf } from '../../scripts/complete-lock.mjs';

const ROOT = join(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { dev?: boolean; optional?: boolean; version?: string; engines?: { node?: string }; optionalDependencies?: Record<string, string> }>;
};

describe('package-lock.json', () => {
  test('lists every platform package its packages pin, so `npm ci` accepts it on any platform', () => {
    expect(missingPlatformEntries(lock).map((m: { key: string }) => m.key)).toEqual([]);
  });

  test('the check can fail: a lock without @swc/core-darwin-arm64 is incomplete', () => {
    const packages = { ...lock.packages };
    delete packages['node_modules/@swc/core-darwin-arm64'];
    const missing = missingPlatformEntries({ packages });
    expect(missing).toEqual([
      {
        key: 'node_modules/@swc/core-darwin-arm64',
        entry: { version: packages['node_modules/@swc/core']!.version, os: ['darwin'], cpu: ['arm64'], dev: true, optional: true },
      },
    ]);
  });

  test('platform names are read as npm would write them', () => {
    expect(platformOf('@swc/core-linux-x64-musl')).toEqual({ os: ['linux'], cpu: ['x64'], libc: ['musl'] });
    expect(platformOf('@unrs/resolver-binding-linux-arm-gnueabihf')).toEqual({ os: ['linux'], cpu: ['arm'], libc: ['glibc'] });
    expect(platformOf('@swc/core-win32-ia32-msvc')).toEqual({ os: ['win32'], cpu: ['ia32'] });
    expect(platformOf('@msgpackr-extract/msgpackr-extract-darwin-x64')).toEqual({ os: ['darwin'], cpu: ['x64'] });
    expect(platformOf('@swc/counter')).toBeUndefined();
  });

  test("every production package runs on the oldest Node that package.json's engines admit", () => {
    const oldest = semver.minVersion(pkg.engines.node)!.version;
    const refusing = Object.entries(lock.packages)
      .filter(([key, entry]) => key && !entry.dev && entry.engines?.node && !semver.satisfies(oldest, entry.engines.node))
      .map(([key, entry]) => `${key} needs node ${entry.engines!.node}`);
    expect(refusing).toEqual([]);
  });
});
