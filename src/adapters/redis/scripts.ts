import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';

const SCRIPT_DIR = join(import.meta.dirname, 'scripts');

/** Script files are named `<name>-<numberOfKeys>.lua`, as in BullMQ. */
export const SCRIPT_FILES = ['create-gate-2', 'transition-3', 'touch-2', 'vote-5', 'redeem-3', 'audit-append-3', 'read-gate-5', 'retire-gate-7', 'audit-trim-2', 'consume-grant-4'] as const;
export type ScriptName = (typeof SCRIPT_FILES)[number];

/** Reads a script and inlines its `--@include <lib>` lines from scripts/lib. */
export function loadScript(file: string): string {
  const body = readFileSync(join(SCRIPT_DIR, `${file}.lua`), 'utf8');
  const includes = [...body.matchAll(/--@include (\w+)/g)].map((m) => m[1]!);
  const libs = includes.map((lib) => readFileSync(join(SCRIPT_DIR, 'lib', `${lib}.lua`), 'utf8'));
  return [...libs, body].join('\n');
}

export type ScriptReply = Array<string | number | null>;

function commandName(file: string): string {
  return `cs_${file.replace(/-/g, '_')}`;
}

const cache = new Map<string, string>();

/**
 * Defines every script on a connection up front, before any traffic: on an auto-pipelining
 * connection (the app's does not auto-pipeline, a caller's may), a command defined while an
 * auto-pipeline is being filled can misalign replies (ioredis #1931).
 */
export function defineScripts(redis: Redis): void {
  for (const file of SCRIPT_FILES) define(redis, file);
}

function define(redis: Redis, file: ScriptName): void {
  const name = commandName(file);
  if (typeof (redis as Redis & Record<string, unknown>)[name] === 'function') return;
  let lua = cache.get(file);
  if (lua === undefined) {
    lua = loadScript(file);
    cache.set(file, lua);
  }
  redis.defineCommand(name, { numberOfKeys: Number(/-(\d+)$/.exec(file)?.[1]), lua });
}

/**
 * Runs a script as an ioredis custom command (EVALSHA, falling back to EVAL after a Redis
 * restart flushed the script cache). The key count comes from the file name and is checked.
 */
export async function runScript(
  redis: Redis,
  file: ScriptName,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): Promise<ScriptReply> {
  const expectedKeys = Number(/-(\d+)$/.exec(file)?.[1]);
  if (keys.length !== expectedKeys) throw new Error(`${file} takes ${expectedKeys} keys, got ${keys.length}`);
  const name = commandName(file);
  const target = redis as Redis & Record<string, unknown>;
  if (typeof target[name] !== 'function') define(redis, file);
  const command = target[name] as (...a: Array<string | number>) => Promise<ScriptReply>;
  return command.call(redis, ...keys, ...args);
}
