import { mintGrant, type MintedGrant } from '../adapters/credentials/grant.js';
import { DEFAULT_GRANT_TTL_SECONDS, GrantClaimsSchema, type GrantClaims } from '../adapters/credentials/grant-claims.js';
import type { KeyRing } from '../adapters/credentials/key-ring.js';
import type { LedgerRedis } from '../adapters/redis/grant-ledger.js';
import type { RedeemOutcome } from '../adapters/redis/gate-store.js';
import { isStricter, type Decision } from '../core/decision.js';
import { CountersignError, ErrorCode } from '../core/errors.js';
import { EVIDENCE_HASH } from '../core/evidence-hash.js';
import type { Gate } from '../core/gate.js';
import type { AgentRegistration } from '../core/policy/agents.js';
import { announceExpiry, notify, notifyLink, type AppContext } from './ports.js';

/** What issuing and consuming grants needs beyond the gate store. */
export interface GrantPorts {
  /** The ring to sign and publish with now (a key reload swaps it). */
  ring(): KeyRing;
  /** `iss` of every grant: the service's public URL. */
  issuer(): string;
  /** Where introspection records that a grant was used. */
  ledger: LedgerRedis;
}

export interface RedeemInput {
  agent: AgentRegistration;
  gateId: string;
  /** `sha256:…` of the bounded action the agent is about to execute. */
  evidenceHash: string;
  /** The redeem request's Idempotency-Key, when sent (see {@link redeemGrant}). */
  idempotencyKey?: string;
  /** A read of the gate already under way (sent with the request's replay check); the first attempt uses it. */
  read?: ReturnType<AppContext['store']['readForRedeem']>;
}

export interface RedeemResult {
  token: string;
  claims: GrantClaims;
  /** Epoch ms. */
  expiresAt: number;
  gate: Gate;
  /** True when this answer hands out again the grant issued to an earlier try of the same request. */
  redelivered: boolean;
}

/** The note the Slack change record shows under a gate (the broker's NOTE_NOTICE). */
const NOTICE_NOTE = 'slackNote';

/** What reviewers are told when a redeem presents other evidence than they approved. */
function driftNotice(presented: string, approved: string): string {
  return `evidence changed, approval void: presented ${presented}, approved ${approved}`;
}

/**
 * An agent redeems its approved gate for the one grant it unlocks.
 *
 * The store's redeem script is the authority: state, execution window (lazily: a gate past its
 * window expires right there, whether or not a timer ran) and evidence hash are checked and the
 * gate moved in one step. Before it, the current policy re-decides the stored request; a
 * stricter verdict refuses the redeem (see {@link policyTightening}).
 *
 * The grant is signed *before* that step and stored by it, with the move to `redeemed`. So no
 * failure can fall between "redeemed" and "grant exists", and an agent whose redeem answer was
 * lost can get the same grant (same `jti`, so it is still consumed once) by retrying with the
 * same `Idempotency-Key` — once, while it is unexpired; the stored copy is wiped then. Any other
 * second redeem is a replay: 409, counted as a bypass attempt. Without a key no retry is
 * possible; the price of signing first is a signature for attempts that lose a race, which a
 * read of the gate beforehand limits to real races.
 */
export async function redeemGrant(ctx: AppContext, grants: GrantPorts, input: RedeemInput): Promise<RedeemResult> {
  if (typeof input.evidenceHash !== 'string' || !EVIDENCE_HASH.test(input.evidenceHash)) {
    throw new CountersignError(ErrorCode.InvalidRequest, 'evidenceHash must be "sha256:" and 64 lowercase hex digits', {
      issues: [{ pointer: '/evidenceHash', message: 'must match ^sha256:[0-9a-f]{64}$' }],
    });
  }
  const actor = `agent:${input.agent.id}`;
  // A gate read older than the gate makes the script ask for a grant once more; twice is enough.
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const now = ctx.now();
    const { gate, auditTail, reviewers } = await (attempt === 0 && input.read ? input.read : ctx.store.readForRedeem(input.gateId));
    if (!gate || gate.agentId !== input.agent.id) {
      throw new CountersignError(ErrorCode.GateNotFound, `no gate ${input.gateId}`, { details: { gateId: input.gateId } });
    }
    const redeemable =
      gate.state === 'approved' && input.evidenceHash === gate.evidenceHash && (gate.executionDeadline ?? Infinity) > now;
    let minted: MintedGrant | undefined;
    let policyNow = '';
    if (redeemable) {
      const current = ctx.decide(gate.request, gate.agentId, now);
      policyNow = current.policyVersion;
      refuseIfTightened(ctx, gate, current, reviewers);
      minted = await mintGrant(gate, {
        ring: grants.ring(),
        issuer: grants.issuer(),
        now,
        jti: ctx.ids.grantId(now),
        ttlSeconds: Math.min(gate.decision.grantTtlSeconds || DEFAULT_GRANT_TTL_SECONDS, current.grantTtlSeconds || DEFAULT_GRANT_TTL_SECONDS),
        approvers: approversOf(gate),
      });
    }
    const outcome = await ctx.store.redeem(gate.id, {
      now,
      actor,
      presentedHash: input.evidenceHash,
      approvedHash: gate.evidenceHash,
      seen: gate,
      ...(auditTail ? { auditTail } : {}),
      ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
      ...(minted ? { grant: { token: minted.token, jti: minted.claims.jti, exp: minted.claims.exp, note: grantNote(minted) } } : {}),
      // Reviewers see why the approval is void from the moment the gate is invalidated: the note
      // is written with the move, before anyone renders the gate.
      invalidationNote: { name: NOTICE_NOTE, value: driftNotice(input.evidenceHash, gate.evidenceHash) },
      audit: {
        redeem: minted ? redeemEntry(actor, now, gate, minted, policyNow) : { event: 'redeem', actor, at: now },
        invalidate: {
          event: 'invalidate',
          actor,
          at: now,
          reason: 'evidence changed after approval',
          presentedHash: input.evidenceHash,
          approvedHash: gate.evidenceHash,
        },
        redeliver: { event: 'grant_redelivered', actor, at: now },
      },
    });
    if (outcome.kind === 'unminted') continue;
    return await settle(ctx, input, outcome, minted);
  }
  throw new CountersignError(ErrorCode.GateConflict, `gate ${input.gateId} changed while it was being redeemed; retry`, {
    details: { gateId: input.gateId },
  });
}

async function settle(ctx: AppContext, input: RedeemInput, outcome: Exclude<RedeemOutcome, { kind: 'unminted' }>, minted: MintedGrant | undefined): Promise<RedeemResult> {
  const { gate } = outcome;
  const actor = `agent:${input.agent.id}`;
  const log = {
    gateId: gate.id,
    agentId: gate.agentId,
    agentSession: gate.request.context.agentSession,
    workflowId: gate.request.context.workflowId,
    actor,
  };
  switch (outcome.kind) {
    case 'redeemed': {
      const grant = minted!;
      ctx.logger.info({ ...log, event: 'redeem', grantId: grant.claims.jti, exp: grant.claims.exp, audience: grant.claims.aud }, 'grant issued');
      await notify(ctx, { gate, event: 'redeem', from: 'approved', actor });
      return { token: grant.token, claims: grant.claims, expiresAt: grant.expiresAt, gate, redelivered: false };
    }
    case 'redelivered': {
      const claims = claimsOf(outcome.token);
      ctx.logger.warn({ ...log, event: 'grant_redelivered', grantId: claims.jti }, 'grant handed out again to a retry of the same redeem');
      // The script linked the redelivery in the gate's chain: the deployment chain copies it.
      notifyLink(ctx, gate);
      return { token: outcome.token, claims, expiresAt: claims.exp * 1000, gate, redelivered: true };
    }
    case 'invalidated': {
      const what = `presented ${input.evidenceHash}, approved ${gate.evidenceHash}`;
      ctx.logger.warn({ ...log, event: 'invalidate', presentedHash: input.evidenceHash, approvedHash: gate.evidenceHash }, 'evidence drifted: approval void');
      await notify(ctx, { gate, event: 'invalidate', from: 'approved', actor });
      throw new CountersignError(ErrorCode.EvidenceDrift, `the evidence changed since it was approved (${what}); the approval is void: request a new gate`, {
        details: { gateId: gate.id, state: gate.state, presentedHash: input.evidenceHash, approvedHash: gate.evidenceHash },
      });
    }
    case 'expired':
      ctx.logger.info({ ...log, event: 'expire' }, 'redeem after the execution window: gate expired');
      await announceExpiry(ctx, gate, 'approved');
      throw expiredError(gate);
    case 'replay':
      ctx.metrics?.bypassAttempt('replay');
      ctx.logger.warn({ ...log, event: 'redeem_refused', reason: 'replay', state: gate.state, bypass: 'replay' }, 'second redeem refused');
      throw new CountersignError(ErrorCode.GrantReplay, `the grant of gate ${gate.id} was issued already; a gate releases one grant`, {
        details: { gateId: gate.id, state: gate.state },
      });
    case 'not_approved':
      if (gate.state === 'expired') throw expiredError(gate);
      throw new CountersignError(ErrorCode.GateConflict, `gate ${gate.id} is ${gate.state}; only an approved gate can be redeemed`, {
        details: { gateId: gate.id, state: gate.state },
      });
  }
}

const expiredError = (gate: Gate) =>
  new CountersignError(ErrorCode.DeadlinePassed, `gate ${gate.id} expired: ${gate.resolution?.reason ?? 'its window ended'}`, {
    details: { gateId: gate.id, state: 'expired' },
  });

/**
 * Why the current policy would not release this gate now, if it would not: a stricter outcome
 * than the one stored (reject now, or review now where it was allowed), a review by another
 * reviewer set than the one that approved, an owner's approval where owners are now excluded, a
 * review whose quorum or team count the recorded approvals no longer meet, or break-glass no
 * longer allowed for a break-glassed gate.
 */
export function policyTightening(gate: Pick<Gate, 'decision' | 'votes' | 'resolution'>, current: Decision, reviewers: ReadonlyMap<string, string>): string | undefined {
  const stored = gate.decision;
  if (isStricter(current.outcome, stored.outcome)) {
    return `current policy decides ${current.outcome}${current.reason ? ` (${current.reason})` : ''} where it decided ${stored.outcome}`;
  }
  const review = current.outcome === 'review' ? current.review : undefined;
  if (!review) return undefined;
  if (gate.resolution?.event === 'break_glass') {
    return review.breakGlassAllowed ? undefined : 'current policy no longer allows break-glass for this request';
  }
  const approvals = gate.votes.filter((v) => v.vote === 'approve');
  // The approvals came from the set the gate was posted to; another set now means other people.
  const storedSet = stored.outcome === 'review' ? stored.review?.reviewerSet : undefined;
  if (storedSet !== undefined && review.reviewerSet !== storedSet) {
    return `current policy has this request reviewed by ${review.reviewerSet}; it was approved by reviewers of ${storedSet}`;
  }
  const owner = current.agentOwner;
  if (review.excludeAgentOwner && owner && approvals.some((v) => v.voter === owner)) {
    return "current policy excludes the agent's owner from approving, and the owner approved this gate";
  }
  // Only approvals of people still in the gate's reviewer set count: someone taken out of the
  // set (reviewers.yaml, or the Slack user group) since approving no longer vouches for it.
  const counted = approvals.filter((v) => reviewers.has(v.voter));
  const teams = new Set(counted.map((v) => v.team).filter(Boolean)).size;
  if (counted.length < review.quorum) {
    const gone = approvals.length - counted.length;
    return gone > 0
      ? `current policy needs ${review.quorum} approvals; ${gone} of this gate's ${approvals.length} came from people no longer among its reviewers`
      : `current policy needs ${review.quorum} approvals; this gate has ${approvals.length}`;
  }
  if (review.distinctTeams > 1 && teams < review.distinctTeams) {
    return `current policy needs approvals from ${review.distinctTeams} teams; this gate has ${teams}`;
  }
  return undefined;
}

/**
 * Refuses when policy tightened. The gate stays `approved` rather than becoming `invalidated`:
 * invalidation says the *evidence* drifted, which is a fact about the gate, while a policy
 * verdict can loosen again (a freeze ends, an override is lifted) and the execution window
 * already bounds how long the gate can wait. Every redeem re-checks, so nothing slips through.
 */
function refuseIfTightened(ctx: AppContext, gate: Gate, current: Decision, reviewers: ReadonlyMap<string, string>): void {
  const why = policyTightening(gate, current, reviewers);
  if (why === undefined) return;
  ctx.logger.warn(
    { gateId: gate.id, agentId: gate.agentId, event: 'redeem_refused', reason: 'policy_tightened', policyVersion: current.policyVersion, rules: current.rules.map((r) => r.rule) },
    `redeem refused: ${why}`,
  );
  throw new CountersignError(ErrorCode.PolicyTightened, `${why}: request a new gate`, {
    details: {
      gateId: gate.id,
      state: gate.state,
      decided: gate.decision.outcome,
      decidesNow: current.outcome,
      policyVersion: current.policyVersion,
      rules: current.rules.map((r) => ({ rule: r.rule, outcome: r.outcome, explanation: r.explanation })),
    },
  });
}

/** Who approved: the approving voters, or whoever broke the glass (empty when policy allowed). */
function approversOf(gate: Gate): string[] {
  const voters = gate.votes.filter((v) => v.vote === 'approve').map((v) => v.voter);
  if (gate.resolution?.event === 'break_glass') voters.push(gate.resolution.actor);
  return [...new Set(voters)].sort();
}

function grantNote(grant: MintedGrant) {
  const c = grant.claims;
  return { jti: c.jti, kid: grant.kid, iat: c.iat, exp: c.exp, audience: c.aud, approvers: c.approvers };
}

/** The audit entry of the redeem: the grant and what it rests on (approval policy, policy now). */
function redeemEntry(actor: string, now: number, gate: Gate, grant: MintedGrant, policyNow: string) {
  const c = grant.claims;
  return {
    event: 'redeem',
    actor,
    at: now,
    grantId: c.jti,
    kid: grant.kid,
    exp: c.exp,
    audience: c.aud,
    approvers: c.approvers,
    evidenceHash: gate.evidenceHash,
    policyVersion: c.pol,
    policyNow,
  };
}

/** The claims of a grant this service signed and stored itself (no need to verify our own copy). */
function claimsOf(token: string): GrantClaims {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as unknown;
  return GrantClaimsSchema.parse(payload);
}
