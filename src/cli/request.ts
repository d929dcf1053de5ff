import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CountersignApiError, CountersignClient, CountersignClientError, evidenceHash, WaitTimeoutError, type GateView } from '../client/index.js';
import { DEV_SECRETS_FILE } from '../dev-secrets.js';
import { decodeWebhookSecret } from '../adapters/http/auth/standard-webhooks.js';

/**
 * `countersign request <file.json>`: the agent protocol from a shell. Signs and submits the
 * request, optionally waits for the decision (backing off, printing each state change) and
 * redeems the grant. Progress goes to stderr; the final gate or grant, as JSON, to stdout.
 */

/** Exit codes, one per outcome, so that a script can branch without parsing output. */
export const EXIT = {
  /** Approved (or allowed), redeemed; or, without --wait, accepted for review. */
  ok: 0,
  /** Anything unexpected: unreachable service, authentication, invalid request. */
  error: 1,
  usage: 2,
  /** Refused by policy. */
  rejected: 3,
  /** Denied by a reviewer (the reason is printed). */
  denied: 4,
  /** The review or execution window passed. */
  expired: 5,
  /** Cancelled, or invalidated (the evidence drifted, or policy became stricter). */
  void: 6,
  /** --timeout passed while reviewers were still deciding; the gate stays open. */
  timeout: 7,
} as const;

export const REQUEST_USAGE = `usage: countersign request <request.json | -> [options]

  Signs and submits a gate request as an agent, and prints the gate as JSON.

  --wait                 wait for the decision, printing state changes (backs off up to 5 s)
  --redeem               wait, then redeem the grant and print it (implies --wait)
  --agent <id>           the agent (default $COUNTERSIGN_AGENT, or demo-agent)
  --url <url>            the service (default $COUNTERSIGN_URL, or http://localhost:3000)
  --timeout <duration>   stop waiting after this long: 90s, 15m, 1h (default 1h)
  --idempotency-key <k>  reuse a key to get the same gate back on a retry

  The agent signs with $COUNTERSIGN_AGENT_<ID>_SECRET (e.g. COUNTERSIGN_AGENT_IAM_AGENT_SECRET),
  or with ${DEV_SECRETS_FILE} written by a server on embedded defaults;
  $COUNTERSIGN_TOKEN sends an OIDC bearer token instead.

  exit codes: 0 approved / redeemed (or submitted, without --wait)   1 error   2 usage
              3 rejected by policy   4 denied by a reviewer   5 expired
              6 cancelled or invalidated   7 still pending at --timeout
`;

export interface RequestIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: NodeJS.ProcessEnv;
  /** Where relative paths and .countersign/ are resolved (default: the process's directory). */
  cwd?: string;
  /** Reads `-` (stdin); default: the process's stdin. */
  readStdin?: () => Promise<string>;
}

const STATE_EXIT: Record<string, number> = {
  approved: EXIT.ok,
  redeemed: EXIT.ok,
  completed: EXIT.ok,
  failed: EXIT.error,
  rejected: EXIT.rejected,
  denied: EXIT.denied,
  expired: EXIT.expired,
  cancelled: EXIT.void,
  invalidated: EXIT.void,
};

const PROBLEM_EXIT: Record<string, number> = {
  ERR_DEADLINE_PASSED: EXIT.expired,
  ERR_EVIDENCE_DRIFT: EXIT.void,
  ERR_POLICY_TIGHTENED: EXIT.void,
};

/** `90s`, `15m`, `1h`, or plain seconds → milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

/** `COUNTERSIGN_AGENT_<ID>_SECRET`, the name agents.yaml uses by convention. */
export function secretEnvName(agentId: string): string {
  return `COUNTERSIGN_AGENT_${agentId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_SECRET`;
}

function credentials(agentId: string, env: NodeJS.ProcessEnv, cwd: string): { secret: string } | { token: string } | undefined {
  if (env.COUNTERSIGN_TOKEN) return { token: env.COUNTERSIGN_TOKEN };
  const fromEnv = env[secretEnvName(agentId)];
  if (fromEnv) return { secret: fromEnv };
  const file = resolve(cwd, DEV_SECRETS_FILE);
  if (!existsSync(file)) return undefined;
  let secrets: unknown;
  try {
    secrets = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CredentialsUnreadable(`${file} is not readable JSON (${(err as Error).message}); delete it and start the server on embedded defaults again`);
  }
  const secret = typeof secrets === 'object' && secrets !== null ? (secrets as Record<string, unknown>)[agentId] : undefined;
  if (secret === undefined) return undefined;
  if (typeof secret !== 'string') throw new CredentialsUnreadable(`${file} holds no secret text for ${agentId}`);
  return { secret };
}

/** The development secrets file exists but cannot be used: a usage error, named. */
class CredentialsUnreadable extends Error {}

function describe(gate: GateView): string {
  const d = gate.decision;
  switch (gate.state) {
    case 'pending_review': {
      const r = d.review;
      const who = r ? `${r.reviewerSet} (${r.quorum} approval${r.quorum === 1 ? '' : 's'}${r.distinctTeams > 1 ? ` from ${r.distinctTeams} teams` : ''})` : 'reviewers';
      return `waiting for ${who}; risk ${d.risk.level}${gate.deadlines.review ? `, until ${gate.deadlines.review}` : ''}`;
    }
    case 'approved': {
      const approvers = gate.votes.filter((v) => v.vote === 'approve').map((v) => v.voter);
      return approvers.length > 0 ? `approved by ${approvers.join(', ')}` : `allowed by policy (${d.reasons.map((r) => r.rule).join(', ') || d.outcome})`;
    }
    case 'rejected':
      return `rejected by policy: ${d.reason ?? d.reasons.map((r) => r.explanation).join('; ')}`;
    case 'denied':
      return `denied by ${gate.resolution?.actor ?? 'a reviewer'}: ${gate.resolution?.reason ?? '(no reason)'}`;
    case 'expired':
      return `expired: ${gate.resolution?.reason ?? 'the window passed'}`;
    case 'invalidated':
      return `invalidated: ${gate.resolution?.reason ?? 'the evidence changed after review'}`;
    case 'cancelled':
      return `cancelled${gate.resolution?.reason ? `: ${gate.resolution.reason}` : ''}`;
    default:
      return gate.state;
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Runs `countersign request …` and returns its exit code. */
export async function requestCommand(argv: string[], io: RequestIo): Promise<number> {
  const out = (value: unknown) => io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  const say = (line: string) => io.stderr.write(`${line}\n`);
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        wait: { type: 'boolean', default: false },
        redeem: { type: 'boolean', default: false },
        agent: { type: 'string' },
        url: { type: 'string' },
        timeout: { type: 'string', default: '1h' },
        'idempotency-key': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    say(`countersign request: ${(err as Error).message}\n\n${REQUEST_USAGE}`);
    return EXIT.usage;
  }
  const { values, positionals } = args;
  if (values.help) {
    io.stdout.write(REQUEST_USAGE);
    return EXIT.ok;
  }
  const file = positionals[0];
  const timeoutMs = parseDuration(values.timeout);
  if (!file || positionals.length > 1 || timeoutMs === undefined) {
    say(`countersign request: ${!file ? 'name a request file' : timeoutMs === undefined ? `--timeout ${values.timeout} is not a duration` : 'one request file at a time'}\n\n${REQUEST_USAGE}`);
    return EXIT.usage;
  }

  const agentId = values.agent ?? io.env.COUNTERSIGN_AGENT ?? 'demo-agent';
  const url = values.url ?? io.env.COUNTERSIGN_URL ?? 'http://localhost:3000';
  let body: Record<string, unknown>;
  try {
    const text = file === '-' ? await (io.readStdin ?? readStdin)() : readFileSync(resolve(io.cwd ?? process.cwd(), file), 'utf8');
    body = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    say(`countersign request: cannot read ${file}: ${(err as Error).message}`);
    return EXIT.usage;
  }
  let creds: ReturnType<typeof credentials>;
  try {
    creds = credentials(agentId, io.env, io.cwd ?? process.cwd());
  } catch (err) {
    if (!(err instanceof CredentialsUnreadable)) throw err;
    say(`countersign request: ${err.message}`);
    return EXIT.usage;
  }
  if (!creds) {
    say(`countersign request: no credentials for ${agentId}: set ${secretEnvName(agentId)} (or COUNTERSIGN_TOKEN), or run a server on embedded defaults, which writes ${DEV_SECRETS_FILE}`);
    return EXIT.usage;
  }
  if ('secret' in creds) {
    try {
      decodeWebhookSecret(creds.secret);
    } catch (err) {
      say(`countersign request: the signing secret for ${agentId} is not usable: ${(err as Error).message} (set ${secretEnvName(agentId)} to the agent's whsec_… secret)`);
      return EXIT.usage;
    }
  }
  const client = new CountersignClient({ url, agentId, ...creds });

  // The gate as last seen, printed when the wait runs out.
  let lastSeen: Awaited<ReturnType<typeof client.submit>> | undefined;
  try {
    let gate = await client.submit(body, values['idempotency-key'] ? { idempotencyKey: values['idempotency-key'] } : {});
    lastSeen = gate;
    say(`gate ${gate.id} (${gate.action} in ${gate.environment}, as ${agentId}): ${gate.state}`);
    say(`  ${describe(gate)}`);
    if (!values.wait && !values.redeem) {
      out(gate);
      return gate.state === 'pending_review' ? EXIT.ok : (STATE_EXIT[gate.state] ?? EXIT.error);
    }
    if (gate.state === 'pending_review') {
      gate = await client.wait(gate.id, {
        timeoutMs,
        onChange: (g, previous) => {
          lastSeen = g;
          if (previous === undefined) return;
          say(`${previous} → ${g.state}`);
          say(`  ${describe(g)}`);
        },
      });
    }
    // The redeem's own Idempotency-Key follows the request's, so a rerun of the same command
    // (its answer lost) gets the same grant again instead of a gate without one.
    const redeemKey = values['idempotency-key'] ? `${values['idempotency-key']}.redeem` : undefined;
    const rerun = values.redeem && gate.state === 'redeemed' && redeemKey !== undefined;
    if (values.redeem && gate.state === 'redeemed' && !rerun) {
      say(`countersign request: gate ${gate.id} was redeemed before, and its grant is not handed out again without the --idempotency-key of that run`);
      out(gate);
      return EXIT.error;
    }
    if ((gate.state !== 'approved' && !rerun) || !values.redeem) {
      out(gate);
      return STATE_EXIT[gate.state] ?? EXIT.error;
    }
    const redeemed = await client.redeem(gate.id, evidenceHash(body), redeemKey ? { idempotencyKey: redeemKey } : {});
    say(`redeemed: grant ${redeemed.claims.jti} for ${redeemed.claims.aud}, valid until ${redeemed.expiresAt}`);
    out(redeemed);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof WaitTimeoutError) {
      say(`countersign request: ${err.message}; the gate stays open (wait again with GET /v1/gates/${err.gateId})`);
      if (lastSeen) out(lastSeen);
      return EXIT.timeout;
    }
    if (err instanceof CountersignApiError) {
      say(`countersign request: ${err.message}`);
      for (const issue of err.problem.errors ?? []) say(`  ${issue.pointer}: ${issue.message}`);
      out(err.problem);
      return PROBLEM_EXIT[err.code] ?? EXIT.error;
    }
    if (err instanceof CountersignClientError) {
      say(`countersign request: ${err.message}`);
      return EXIT.error;
    }
    throw err;
  }
}
