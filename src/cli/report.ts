import { parseArgs } from 'node:util';
import { readWindow, windowDays } from '../adapters/metrics/gate-stats.js';
import { buildReport, renderReportText } from '../app/admin/report.js';
import { withRedis, type AuditIo } from './audit.js';

const USAGE = `usage: countersign report [--days N] [--json]

Per action type, over the last N days (default 30, at most 400): how often review was needed,
approval rate, median time to decision, denials, evidence drift, break-glass, and from
observe-mode shadow decisions what switching to enforce would cost in approval clicks.
Connects to REDIS_URL.
`;

/** `countersign report`. Exit codes: 0 fine, 2 usage or connection. */
export async function reportCommand(args: string[], io: AuditIo): Promise<number> {
  let values;
  try {
    values = parseArgs({ args, options: { days: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } }, strict: true }).values;
  } catch (err) {
    io.stderr.write(`countersign: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const days = values.days === undefined ? 30 : Number(values.days);
  if (!Number.isInteger(days) || days < 1 || days > 400) {
    io.stderr.write(`countersign: --days must be a whole number from 1 to 400\n\n${USAGE}`);
    return 2;
  }
  return withRedis(io, async (redis) => {
    const report = buildReport(await readWindow(redis, windowDays(io.now(), days)));
    io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderReportText(report));
    return 0;
  });
}
