import type { AuditIo } from '../../src/cli/audit.js';
import { testRedisUrl } from './redis.js';

/**
 * Runs an audit CLI command (`auditCommand`, `traceCommand`) against this test file's Redis, as
 * the `countersign` binary would. `out` is stdout and stderr together, as a terminal shows them.
 */
export async function runAuditCli(run: (args: string[], io: AuditIo) => Promise<number>, args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: AuditIo = {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => ((out += s), (err += s)) },
    env: { REDIS_URL: testRedisUrl() },
    now: Date.now,
  };
  return { code: await run(args, io), out, err };
}
