import { keysCommand } from './keys.js';
import { policyCommand } from './policy.js';

const USAGE = `usage: countersign <command> [arguments]

commands:
  policy test [dir]                 run the policy cases (policies/tests/*.cases.yaml)
  policy explain <request.json>     show the decision for a request, and why
  keys rotate | list | prune        manage the grant signing keys (COUNTERSIGN_KEYS)
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
