import type { Redis } from 'ioredis';
import { GENESIS, isAuditLink, verifyChain, type AuditLink } from '../../core/audit-chain.js';
import { firstEntry, requestMismatch } from './record-check.js';
import type { Gate } from '../../core/gate.js';
import type { GateStore } from '../redis/gate-store.js';
import { grantUsedKey } from '../redis/grant-ledger.js';
import { gateKeys } from '../redis/keys.js';
import { verifyRecords, type ChainHead, type DeploymentRecord } from './deployment-chain.js';
import { readBase } from './archive.js';
import { AUDIT_KEYS } from './keys.js';
import { retiredEntryOf, retirementOf, type RetiredEntry } from './retention.js';

/** One step of a gate's story, from the user's intent to the calls the grant was used for. */
export interface TraceStep {
  /** intent · session · policy · vote · approval · break-glass · grant · consumed · outcome · retired · other */
  step: string;
  at?: number;
  actor?: string;
  /** The gate link's seq this step comes from (undefined for facts from the gate record). */
  seq?: number;
  lines: string[];
}

export interface GateTrace {
  gateId: string;
  state: string;
  /** Problems of the gate's chain (empty when intact). */
  chainProblems: string[];
  links: number;
  steps: TraceStep[];
}

type Entry = Record<string, unknown> & { event: string; actor?: string; at?: number };

const iso = (ms: unknown) => {
  const date = typeof ms === 'number' ? new Date(ms) : undefined;
  return date && !Number.isNaN(date.getTime()) ? date.toISOString() : '?';
};
const str = (v: unknown) => (v === undefined || v === null || v === '' ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

/**
 * Rebuilds a gate's path from its own audit chain (the authority) and its record: intent →
 * agent session → policy decision → votes and approval → grant (id and claims) → consumption by
 * the executor (a link of the chain; for older releases, their marker while it lasts) → outcome
 * and its calls.
 */
export async function traceGate(redis: Redis, store: GateStore, gateId: string): Promise<GateTrace | undefined> {
  let gate: Gate | undefined;
  let recordProblem: string | undefined;
  try {
    gate = await store.read(gateId);
  } catch (err) {
    if (err instanceof SyntaxError) recordProblem = `the gate's record is unreadable (${err.message})`;
    else throw err;
  }
  const raw = await redis.lrange(gateKeys(gateId).audit, 0, -1);
  if (!gate && !recordProblem && raw.length === 0) return traceRetired(redis, gateId);
  // Retired between the two reads: its keys are gone now, and the deployment chain tells its story.
  if (gate && raw.length === 0 && !(await redis.exists(gateKeys(gateId).gate))) return traceRetired(redis, gateId);
  const problems = verifyChain(raw).map((p) => `position ${p.position} (seq ${p.seq ?? '?'}): ${p.problem} — ${p.detail}`);
  if (recordProblem) problems.unshift(recordProblem);
  // Every gate is created with its first link: a record without any link lost its chain.
  if (gate && raw.length === 0) problems.unshift("the gate's audit chain is missing: it was removed");
  // The request (and so the claims shown below) comes from the record: it must still hash to what the chain recorded.
  const changed = gate ? requestMismatch(gate.request, firstEntry(raw[0])) : undefined;
  if (changed) problems.unshift(changed);
  const steps: TraceStep[] = [];
  raw.forEach((text, i) => {
    let link: unknown;
    let entry: unknown;
    try {
      link = JSON.parse(text);
      entry = isAuditLink(link) ? JSON.parse(link.entry) : undefined;
    } catch {
      entry = undefined;
    }
    if (!isAuditLink(link) || typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      steps.push({ step: 'other', seq: i + 1, lines: ['(unreadable link)'] });
      return;
    }
    steps.push(...stepsOf(entry as Entry, link, gate));
  });
  // Consumptions are links of the chain; a grant consumed before they were may still have its
  // marker under the old key, until the grant expires.
  const consumed = steps.some((s) => s.step === 'consumed') ? undefined : await consumption(redis, steps);
  if (consumed) {
    const i = steps.findIndex((s) => s.step === 'grant');
    steps.splice(i + 1, 0, consumed);
  }
  return { gateId, state: gate?.state ?? (recordProblem ? 'unknown (record unreadable)' : 'unknown (record gone)'), chainProblems: problems, links: raw.length, steps };
}

function stepsOf(e: Entry, link: AuditLink, gate: Gate | undefined): TraceStep[] {
  const base = { seq: link.seq, ...(typeof e.at === 'number' ? { at: e.at } : {}), ...(typeof e.actor === 'string' ? { actor: e.actor } : {}) };
  switch (e.event) {
    case 'create': {
      const d = (e.decision ?? {}) as Record<string, unknown>;
      const review = gate?.decision.review ?? gate?.decision.shadow?.review;
      return [
        { ...base, step: 'intent', lines: [`"${str(e.intent)}"`, `on behalf of ${str(e.requester)}`, `action ${str(e.action)} in ${str(e.environment)}`, `evidence ${str(e.evidenceHash)}`] },
        { ...base, step: 'session', lines: [`agent ${str(e.actor).replace(/^agent:/, '')}`, `session ${str(e.agentSession)}`, `workflow ${str(e.workflowId)}`] },
        {
          ...base,
          step: 'policy',
          lines: [
            `${str(d.outcome)} (${str(d.mode)} mode${d.shadow ? `, enforce would ${str(d.shadow)}` : ''}) · risk ${str(d.risk)}`,
            `rules ${Array.isArray(d.rules) && d.rules.length > 0 ? d.rules.join(', ') : '—'}`,
            ...(review ? [`reviewers ${review.reviewerSet}, quorum ${review.quorum}${review.distinctTeams > 1 ? `, ${review.distinctTeams} teams` : ''}`] : []),
            `policy ${str(d.policyVersion)} · state ${link.to}`,
          ],
        },
      ];
    }
    case 'vote':
      return [{ ...base, step: 'vote', lines: [`${str(e.vote)} by ${str(e.actor)}${e.team ? ` (${str(e.team)})` : ''}${e.reason ? `: ${str(e.reason)}` : ''}`] }];
    case 'approve':
      return [{ ...base, step: 'approval', lines: [`approved; approvers ${Array.isArray(e.approvers) ? e.approvers.join(', ') : str(e.approvers)}`] }];
    case 'deny':
      return [{ ...base, step: 'approval', lines: [`denied by ${str(e.actor)}: ${str(e.reason)}`] }];
    case 'break_glass':
      return [{ ...base, step: 'break-glass', lines: [`break-glass by ${str(e.actor)}: ${str(e.justification)}`, 'post-hoc review required'] }];
    case 'redeem':
      return [
        {
          ...base,
          step: 'grant',
          lines: [
            `jti ${str(e.grantId)} · kid ${str(e.kid)} · expires ${typeof e.exp === 'number' ? iso(e.exp * 1000) : '—'}`,
            `claims ${JSON.stringify(claimsOf(e, gate))}`,
          ],
        },
      ];
    case 'grant_consumed':
      return [{ ...base, step: 'consumed', lines: [`by ${str(e.actor)} · jti ${str(e.grantId)}`] }];
    case 'complete':
    case 'fail': {
      const calls = Array.isArray(e.calls) ? (e.calls as Array<Record<string, unknown>>) : [];
      return [
        {
          ...base,
          step: 'outcome',
          lines: [
            `${e.event === 'complete' ? 'completed' : 'failed'}${e.summary ? `: ${str(e.summary)}` : ''} · ${calls.length} call${calls.length === 1 ? '' : 's'}`,
            ...calls.map((c) => `call ${[c.method, c.action, c.target].filter(Boolean).map(str).join(' ')} → ${str(c.status)}${c.at ? ` at ${str(c.at)}` : ''}${c.detail ? ` (${str(c.detail)})` : ''}`),
          ],
        },
      ];
    }
    default:
      return [{ ...base, step: 'other', lines: [`${e.event}${e.reason ? `: ${str(e.reason)}` : ''}${e.detail ? ` (${str(e.detail)})` : ''} · ${link.from || '∅'} → ${link.to}`] }];
  }
}

const PAGE = 1_000;

/**
 * A gate that retention removed (or any gate whose own keys are gone): its story from the copies
 * the deployment chain holds, checked against the record that retired it. The whole chain is
 * read and verified on the way, so a copy that was altered is named.
 */
async function traceRetired(redis: Redis, gateId: string): Promise<GateTrace | undefined> {
  const copies: DeploymentRecord[] = [];
  const problems: string[] = [];
  const retirements: RetiredEntry[] = [];
  const total = await redis.llen(AUDIT_KEYS.log);
  const base = await readBase(redis);
  let last: ChainHead = base && base !== 'unreadable' ? base : { pos: 0, hash: GENESIS };
  for (let start = 0; start < total; start += PAGE) {
    const page = verifyRecords(await redis.lrange(AUDIT_KEYS.log, start, start + PAGE - 1), { pos: last.pos + 1, prev: last.hash });
    for (const p of page.problems) {
      if (p.gateId === gateId || p.gateId === undefined) problems.push(`deployment chain record ${p.position ?? '?'}: ${p.problem.replace(/_/g, ' ')} — ${p.detail}`);
    }
    for (const r of page.records) {
      if (r?.kind === 'gate' && r.gateId === gateId) copies.push(r);
      const retired = r?.kind === 'admin' ? retiredEntryOf(r.entry) : undefined;
      if (retired?.gateId === gateId) retirements.push(retired);
    }
    last = page.last;
  }
  const retirement = retirementOf(retirements, copies.map((c) => ({ seq: c.seq, gateHash: c.gateHash })));
  if (copies.length === 0 && !retirement) return undefined;
  copies.forEach((c, i) => {
    if (c.seq !== i + 1) problems.push(`the deployment chain's copies skip or repeat: expected link ${i + 1}, found link ${c.seq}`);
  });
  const final = copies.at(-1);
  if (!retirement) problems.unshift("the gate's record and chain are gone, and no retirement was recorded: they were removed");
  else if (!final || final.seq !== retirement.links || final.gateHash !== retirement.lastHash) {
    problems.push(`it was retired with ${retirement.links} links, but the deployment chain holds copies of ${final ? `links up to ${final.seq}, ending elsewhere` : 'none'}`);
  }
  const steps: TraceStep[] = [];
  for (const copy of copies) {
    let entry: unknown;
    try {
      entry = JSON.parse(copy.entry);
    } catch {
      entry = undefined;
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      steps.push({ step: 'other', seq: copy.seq, lines: ['(unreadable copy)'] });
      continue;
    }
    // A copy keeps the link's entry and hash; the states it moved between are in the entries.
    const link: AuditLink = { seq: copy.seq, prev: '', hash: copy.gateHash, digest: copy.digest, from: '', to: '?', entry: copy.entry };
    steps.push(...stepsOf(entry as Entry, link, undefined));
  }
  if (retirement) {
    steps.push({
      step: 'retired',
      at: retirement.at,
      actor: retirement.actor,
      lines: [
        `in state ${retirement.state} since ${iso(retirement.finalAt)}; removed after the retention period`,
        "these steps come from the deployment chain's copies of the gate's links",
      ],
    });
  }
  return {
    gateId,
    state: retirement ? `${retirement.state} (retired)` : 'unknown (record gone)',
    chainProblems: problems,
    links: copies.length,
    steps,
  };
}

/** The grant's claims as the chain and the gate record establish them. */
function claimsOf(e: Entry, gate: Gate | undefined): Record<string, unknown> {
  const req = gate?.request;
  return {
    jti: e.grantId,
    gid: gate?.id,
    aud: e.audience,
    sub: gate?.agentId,
    act: { sub: req?.context.requester.email },
    env: req?.environment,
    action: req?.action,
    resources: req?.resources.map((r) => ({ type: r.type, id: r.id })),
    permissions: req?.permissions.map((p) => p.name),
    evh: e.evidenceHash,
    approvers: e.approvers,
    pol: e.policyVersion,
    exp: e.exp,
  };
}

/** The executor's consumption of the grant, from the marker older releases kept (until the grant's expiry). */
async function consumption(redis: Redis, steps: TraceStep[]): Promise<TraceStep | undefined> {
  const grant = steps.find((s) => s.step === 'grant');
  const jti = grant?.lines[0]?.match(/^jti (\S+)/)?.[1];
  if (!jti || jti === '—') return undefined;
  let marker: string | null = null;
  try {
    marker = await redis.get(grantUsedKey(jti));
  } catch {
    marker = null;
  }
  if (!marker) return { step: 'consumed', lines: ['no consumption on record (not introspected yet, or consumed by an older release whose marker has expired)'] };
  const m = JSON.parse(marker) as { consumer?: string; consumedAt?: number };
  return { step: 'consumed', ...(m.consumedAt ? { at: m.consumedAt } : {}), ...(m.consumer ? { actor: m.consumer } : {}), lines: [`by ${str(m.consumer)}`] };
}

/** The trace as text, one step per block, for the CLI. */
export function renderTrace(t: GateTrace): string {
  const out = [
    `gate ${t.gateId} · ${t.state} · ${t.links} audit links · chain ${t.chainProblems.length === 0 ? 'intact' : 'BROKEN'}`,
    ...t.chainProblems.map((p) => `  ! ${p}`),
  ];
  for (const s of t.steps) {
    const head = `${s.step.padEnd(12)} ${s.at !== undefined ? iso(s.at) : ''.padEnd(24)}${s.actor ? `  ${s.actor}` : ''}${s.seq !== undefined ? `  [#${s.seq}]` : ''}`;
    out.push(head, ...s.lines.map((l) => `${' '.repeat(13)}${l}`));
  }
  return `${out.join('\n')}\n`;
}
