import { connect } from 'node:net';
import { Redis } from 'ioredis';

/**
 * The Redis URL for this test file: the run's private server (or REDIS_URL), on a database
 * chosen by the Jest worker (1–15), never database 0. Files in one worker run one after another,
 * so `freshRedis()` may flush that database.
 */
export function testRedisUrl(): string {
  const base = process.env.COUNTERSIGN_TEST_REDIS_URL;
  if (!base) throw new Error('COUNTERSIGN_TEST_REDIS_URL is not set: run tests through `npm test`');
  const worker = Number(process.env.JEST_WORKER_ID ?? '1');
  const db = 1 + ((worker - 1) % 15);
  const url = new URL(base);
  url.pathname = `/${db}`;
  return url.toString();
}

/** A connection to this file's database, flushed. Close it in afterAll. */
export async function freshRedis(): Promise<Redis> {
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 2, lazyConnect: false });
  await redis.flushdb();
  return redis;
}

/**
 * Watches, with MONITOR, who writes a gate's notes hash: `script:<note>` for a write inside a
 * Lua script (atomic with the step that ran it), `client:<note>` for a separate command.
 * `stop()` waits for the commands sent so far and returns what was seen. (A plain socket:
 * ioredis can take the first MONITOR lines for replies to commands it never sent.)
 */
export async function watchNoteWrites(redis: Redis, gateId: string): Promise<{ stop(): Promise<string[]> }> {
  const { host, port } = redis.options;
  const socket = connect({ host: host ?? '127.0.0.1', port: port ?? 6379 });
  const seen: string[] = [];
  const key = `"cs:{g:${gateId}}:notes"`;
  let buffered = '';
  let marker = '';
  let markerSeen: () => void = () => undefined;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\r\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      // +1795494976.891033 [1 127.0.0.1:57672] "hset" "cs:{g:…}:notes" "slackNote" "…"
      const m = /^\+[\d.]+ \[\d+ ([^\]]+)\] "(\w+)" (".*)$/.exec(line);
      if (!m) continue;
      const [, source, command, rest] = m as unknown as [string, string, string, string];
      if (marker && command.toLowerCase() === 'echo' && rest.includes(marker)) markerSeen();
      if (command.toLowerCase() !== 'hset' || !rest.startsWith(key)) continue;
      const names = [...rest.slice(key.length).matchAll(/ "((?:[^"\\]|\\.)*)"/g)].map((f) => f[1]!);
      for (let i = 0; i < names.length; i += 2) seen.push(`${source === 'lua' ? 'script' : 'client'}:${names[i]}`);
    }
  });
  // MONITOR is on once its +OK (the first data) came back.
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('data', () => resolve());
    socket.write('MONITOR\r\n');
  });
  return {
    async stop() {
      // MONITOR reports commands in the order the server runs them: once a marker sent now
      // shows up, every command before it has been seen.
      marker = `watch-${Date.now()}-${Math.random()}`;
      const shown = new Promise<void>((resolve) => (markerSeen = resolve));
      await redis.echo(marker);
      await shown;
      socket.destroy();
      return seen;
    },
  };
}
