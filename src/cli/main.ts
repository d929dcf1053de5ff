import { auditCommand, traceCommand } from './audit.js';
import { keysCommand } from './keys.js';
import { policyCommand } from './policy.js';
import { reportCommand } from './report.js';
import { requestCommand } from './request.js';

const USAGE = `usage: countersign <command> [arguments]

commands:
  policy check [dir]                load the policy set as the service would; problems with file:line
  policy test [dir]                 run the policy cases (policies/tests/*.cases.yaml)
  policy explain <request.json>     show the decision for a request, and why
  keys rotate | list | prune        manage the grant signing keys (COUNTERSIGN_KEYS)
  request <request.json> [--wait] [--redeem] [--timeout 10m] [--agent id] [--url url]
                                    ask for a gate as an agent; exit 0 approved/redeemed,
                                    3 rejected, 4 denied, 5 expired, 6 cancelled/invalidated,
                                    7 still pending at --timeout, 1 error (request --help)
  audit verify [--anchor <pos>:<hash>] [--archive <file>]
                                    check the audit chains; names a modified, removed or reordered entry
  audit head                        print the chain's current head (<pos>:<hash>) to keep elsewhere
  audit archive --out <file>        move the oldest retired records out of Redis ([--before 30d])
  audit export --since <time>       write the audit chain as NDJSON ([--out file]; time: ISO or 24h, 7d)
  trace <gate>                      a gate's path: intent → session → decision → approvals → grant → calls
  report [--days N] [--json]        per action: review needed, approval rate, latency, drift, observe cost
  help                              this text
`;

/** The CLI entry: dispatches to a subcommand and returns its exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const stdout = process.stdout;
  const stderr = process.stderr;
  switch (command) {
    case 'policy':
      return policyCommand(rest, { stdout, stderr });
    case 'request':
      return requestCommand(rest, { stdout, stderr, env: process.env });
    case 'audit':
      return auditCommand(rest, { stdout, stderr, env: process.env, now: Date.now });
    case 'trace':
      return traceCommand(rest, { stdout, stderr, env: process.env, now: Date.now });
    case 'report':
      return reportCommand(rest, { stdout, stderr, env: process.env, now: Date.now });
    case 'keys':
      return keysCommand(rest, {
        out: (line) => stdout.write(`${line}\n`),
        err: (line) => stderr.write(`${line}\n`),
        env: process.env,
        now: Date.now,
      });
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      stderr.write(`countersign: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}
