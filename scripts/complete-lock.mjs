#!/usr/bin/env node
// Adds to package-lock.json the other platforms' native packages that a registry mirror
// without them leaves out, so that `npm ci` accepts the lock on every platform.
//
//   node scripts/complete-lock.mjs           # completes the lock in place
//   node scripts/complete-lock.mjs --check   # exits 1, naming them, when entries are missing
//
// `npm install` against a registry that serves only this platform's binaries of @swc/core,
// unrs-resolver or msgpackr-extract writes a lock without the other platforms' entries; `npm ci`
// then reads the lock as out of sync with package.json ("Missing: @swc/core-darwin-arm64@ from
// lock file") and installs nothing. Each missing entry is written with the exact version its
// parent pins and the os, cpu and libc its name states, so npm skips it on other platforms.
// The integrity of such an entry is not known here; npm records it at the first install that
// fetches the package.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const OS = ['android', 'darwin', 'freebsd', 'linux', 'openharmony', 'win32'];
const CPU = ['arm', 'arm64', 'ia32', 'loong64', 'ppc64', 'riscv64', 's390x', 'x64'];

/** The os, cpu and libc a platform package's name states (`core-linux-arm64-musl`), if it does. */
export function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const at = parts.findIndex((part, i) => OS.includes(part) && CPU.includes(parts[i + 1]));
  if (at < 0) return undefined;
  const abi = parts[at + 2] ?? '';
  const libc = parts[at] !== 'linux' ? undefined : abi.startsWith('musl') ? 'musl' : abi.startsWith('gnu') ? 'glibc' : undefined;
  return { os: [parts[at]], cpu: [parts[at + 1]], ...(libc ? { libc: [libc] } : {}) };
}

/** Where Node would find `dep` required from the package at `from` (a lock key), if the lock has it. */
export function resolveInLock(packages, from, dep) {
  let dir = from;
  for (;;) {
    const key = dir ? `${dir}/node_modules/${dep}` : `node_modules/${dep}`;
    if (packages[key]) return key;
    if (!dir) return undefined;
    const cut = dir.lastIndexOf('/node_modules/');
    dir = cut < 0 ? '' : dir.slice(0, cut);
  }
}

/** Optional platform packages that the lock's packages pin and the lock lacks. */
export function missingPlatformEntries(lock) {
  const missing = [];
  for (const [from, entry] of Object.entries(lock.packages)) {
    for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
      if (resolveInLock(lock.packages, from, dep)) continue;
      const platform = platformOf(dep);
      if (!platform || !/^\d+\.\d+\.\d+$/.test(version)) continue;
      // Hoisted to the top, as npm places them, unless another version holds that place.
      const key = !lock.packages[`node_modules/${dep}`] ? `node_modules/${dep}` : `${from}/node_modules/${dep}`;
      missing.push({ key, entry: { version, ...platform, ...(entry.dev ? { dev: true } : {}), optional: true } });
    }
  }
  return missing;
}

function main() {
  const path = fileURLToPath(new URL('../package-lock.json', import.meta.url));
  const lock = JSON.parse(readFileSync(path, 'utf8'));
  const missing = missingPlatformEntries(lock);
  if (process.argv.includes('--check')) {
    for (const { key, entry } of missing) console.error(`missing from package-lock.json: ${key}@${entry.version}`);
    process.exit(missing.length ? 1 : 0);
  }
  for (const { key, entry } of missing) lock.packages[key] = entry;
  const sorted = {};
  for (const key of Object.keys(lock.packages).sort()) sorted[key] = lock.packages[key];
  lock.packages = sorted;
  writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
  console.log(`package-lock.json: ${missing.length} platform entr${missing.length === 1 ? 'y' : 'ies'} added`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
