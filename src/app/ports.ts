import type { Logger } from 'pino';
import type { GateStore } from '../adapters/redis/gate-store.js';
import type { IdempotencyStore } from '../adapters/redis/idempotency-store.js';
import type { AgentNetworks } from '../core/agent-networks.js';
import type { AuditLink } from '../core/audit-chain.js';
import type { Decision } from '../core/decision.js';
import type { Gate } from '../core/gate.js';
import type { BoundedAction } from '../core/gate-request.js';
import type { GateEvent, GateState } from '../core/gate-state.js';
import type { IdSource } from '../core/ids.js';
import type { AgentRegistration } from '../core/policy/agents.js';

/** Decides a request against the currently loaded policy. */
export type DecideFn = (request: BoundedAction, agentId: string, now: number) => Decision;

/** A state change that other parts (Slack, timers, callbacks, metrics) react to. */
export interface GateChange {
  gate: Gate;
  /** `vote` is a counted vote that did not decide the gate. */
  event: GateEvent | 'create' | 'vote';
  from: GateState | null;
  actor: string;
  /**
   * The links this change appended to the gate's chain, as stored, when the writer knows them
   * whole (a create): the deployment audit copy then need not read them back.
   */
  links?: readonly AuditLink[];
}

/** Anything that wants to hear about gate changes. Reactions must not fail the change itself, and run alongside each other's. */
export interface GateObserver {
  gateChanged(change: GateChange): Promise<void> | void;
  /** A link was added to the gate's chain with no change anyone else reacts to (a grant handed out again). */
  linkAppended?(gate: Gate): void;
}

/** What the use cases need; wired once in src/main.ts. */
export interface AppContext {
  store: GateStore;
  idempotency: IdempotencyStore;
  decide: DecideFn;
  agent(id: string): AgentRegistration | undefined;
  ids: IdSource;
  now: () => number;
  logger: Logger;
  observers: GateObserver[];
  metrics?: MetricsPort;
  /** Where agent URLs (callbacks, revalidation) may lead: checked at intake and when called. */
  agentNetworks: AgentNetworks;
}

/** What the use cases count; the Prometheus adapter implements it. */
export interface MetricsPort {
  bypassAttempt(kind: string): void;
}

/**
 * Tells every observer, all at once (each is independent: none may rely on another having
 * run); resolves when all have finished. A failing observer is logged, never propagated.
 */
export async function notify(ctx: Pick<AppContext, 'observers' | 'logger'>, change: GateChange): Promise<void> {
  await Promise.all(
    ctx.observers.map(async (observer) => {
      try {
        await observer.gateChanged(change);
      } catch (err) {
        ctx.logger.error({ err, gateId: change.gate.id, event: change.event }, 'a gate observer failed');
      }
    }),
  );
}

/** Tells the observers that record links (the deployment audit chain) that the gate's chain grew. */
export function notifyLink(ctx: Pick<AppContext, 'observers' | 'logger'>, gate: Gate): void {
  for (const observer of ctx.observers) {
    try {
      observer.linkAppended?.(gate);
    } catch (err) {
      ctx.logger.error({ err, gateId: gate.id }, 'a gate observer failed');
    }
  }
}

/**
 * Tells observers that a gate expired, when the step that expired it was a side effect of
 * something else (a read, a late vote, a redeem, a revalidation) and several of them, or a timer
 * that finds the gate expired, may each want to. Announced at least once, and once: the first to
 * claim the announcement makes it, and the others stay quiet (one that claimed and died is taken
 * over after a minute).
 */
export async function announceExpiry(ctx: Pick<AppContext, 'observers' | 'logger' | 'store' | 'now'>, gate: Gate, from: GateState, actor = 'system:deadline'): Promise<boolean> {
  if (gate.state !== 'expired' || !(await ctx.store.claimExpiryAnnouncement(gate.id, ctx.now()))) return false;
  await notify(ctx, { gate, event: 'expire', from, actor });
  await ctx.store.markExpiryAnnounced(gate.id, ctx.now());
  return true;
}
