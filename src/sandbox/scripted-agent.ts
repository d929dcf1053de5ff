import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CountersignApiError, CountersignClient, evidenceHash, verifyGrant, type GateView } from '../client/index.js';

/**
 * The demo's agent: submits each request of demo/scenario.json as the agent registered for it,
 * waits for reviewers, redeems the grant once approved, lets the executor named by `audience`
 * verify and consume it, and reports the outcome — the whole chain, narrated line by line.
 */

export interface ScenarioEntry {
  file: string;
  agent: string;
  note?: string;
}

export interface AgentEvent {
  agent: string;
  /** The example's name, e.g. `iam-attach-admin-policy`. */
  example: string;
  text: string;
  gateId?: string;
  state?: string;
}

export interface ScriptedAgentOptions {
  /** The app's base URL. */
  url: string;
  /** The grant issuer (the app's public URL). */
  issuer: string;
  /** Where `file`s are resolved (the repository root). */
  root: string;
  scenario: ScenarioEntry[];
  /** Agent and executor secrets, by `COUNTERSIGN_AGENT_<ID>_SECRET`. */
  env: NodeJS.ProcessEnv;
  report: (event: AgentEvent) => void;
  signal: AbortSignal;
}

/** Reads demo/scenario.json. */
export function readScenario(root: string): ScenarioEntry[] {
  const parsed = JSON.parse(readFileSync(join(root, 'demo', 'scenario.json'), 'utf8')) as { requests: ScenarioEntry[] };
  return parsed.requests;
}

const secretOf = (env: NodeJS.ProcessEnv, id: string) => env[`COUNTERSIGN_AGENT_${id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_SECRET`];

function describe(gate: GateView): string {
  const d = gate.decision;
  if (gate.state === 'pending_review' && d.review) {
    return `waits for ${d.review.quorum} approval${d.review.quorum === 1 ? '' : 's'} from ${d.review.reviewerSet}${d.review.distinctTeams > 1 ? ` (${d.review.distinctTeams} teams)` : ''}`;
  }
  if (gate.state === 'approved') {
    const approvers = gate.votes.filter((v) => v.vote === 'approve').length;
    return approvers ? `approved by ${approvers} reviewer${approvers === 1 ? '' : 's'}` : `allowed by policy (${d.reasons.map((r) => r.rule).join(', ')})`;
  }
  if (gate.state === 'rejected') return `rejected by policy: ${d.reason ?? ''}`;
  if (gate.state === 'denied') return `denied: ${gate.resolution?.reason ?? ''}`;
  return gate.state;
}

/** Runs one scenario entry to its end (or until the signal aborts). */
async function runOne(entry: ScenarioEntry, o: ScriptedAgentOptions): Promise<void> {
  const example = entry.file.replace(/^.*\//, '').replace(/\.json$/, '');
  const say = (text: string, gate?: GateView) => o.report({ agent: entry.agent, example, text, ...(gate ? { gateId: gate.id, state: gate.state } : {}) });
  const secret = secretOf(o.env, entry.agent);
  if (!secret) return say(`has no secret (${entry.agent} is not an HMAC agent here): skipped`);
  const client = new CountersignClient({ url: o.url, agentId: entry.agent, secret });
  const request = JSON.parse(readFileSync(join(o.root, entry.file), 'utf8')) as Record<string, unknown>;

  let gate = await client.submit(request, { idempotencyKey: `demo-${example}-${Date.now()}` });
  say(`asks for ${gate.action} in ${gate.environment}: ${describe(gate)}`, gate);
  if (gate.state === 'pending_review') {
    gate = await client.wait(gate.id, {
      intervalMs: 300,
      maxIntervalMs: 1_000,
      signal: o.signal,
      onChange: (g, previous) => {
        if (previous !== undefined) say(describe(g), g);
      },
    });
  }
  if (gate.state !== 'approved') return;

  // Redeem with the hash of exactly what is about to run: the request as it was approved.
  const redeemed = await client.redeem(gate.id, evidenceHash(request));
  say(`redeemed grant ${redeemed.claims.jti} for ${redeemed.claims.aud}, valid until ${redeemed.expiresAt.slice(11, 19)} UTC`, redeemed.gate);

  const executorSecret = secretOf(o.env, gate.audience);
  if (executorSecret) {
    const claims = await verifyGrant(redeemed.grant, {
      jwksUrl: `${o.url}/.well-known/jwks.json`,
      issuer: o.issuer,
      audience: gate.audience,
      expect: { action: gate.action, environment: gate.environment, evidenceHash: gate.evidenceHash },
    });
    const executor = new CountersignClient({ url: o.url, agentId: gate.audience, secret: executorSecret });
    const answer = await executor.introspect(redeemed.grant);
    say(`${gate.audience} verified the grant (approvers: ${claims.approvers.length || 'policy'}) and ${answer.active ? 'consumed it once' : `was refused: ${answer.reason}`}`, redeemed.gate);
  }
  const done = await client.reportOutcome(gate.id, {
    status: 'succeeded',
    summary: `${gate.action} ran (simulated by the demo)`,
    calls: [{ action: gate.action, target: String((request.resources as { id: string }[])[0]?.id ?? '').slice(0, 500), status: 'ok' }],
  });
  say('reported the outcome: the audit chain is closed', done);
}

/** Submits every request in order, then waits for all of them in parallel. */
export async function runScriptedAgent(o: ScriptedAgentOptions): Promise<void> {
  const runs: Promise<void>[] = [];
  for (const entry of o.scenario) {
    if (o.signal.aborted) break;
    runs.push(
      runOne(entry, o).catch((err: unknown) => {
        if (o.signal.aborted) return;
        const text = err instanceof CountersignApiError ? `${err.problem.title}: ${err.problem.detail}` : err instanceof Error ? err.message : String(err);
        o.report({ agent: entry.agent, example: entry.file, text: `failed: ${text}` });
      }),
    );
    // One after the other, as separate agents would arrive: the page fills up visibly.
    await new Promise((r) => setTimeout(r, 400));
  }
  await Promise.all(runs);
}
