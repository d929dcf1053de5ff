import type { Decision } from './decision.js';
import type { BoundedAction, Delivery } from './gate-request.js';
import type { GateState } from './gate-state.js';

/** A reviewer's vote as recorded on the gate. */
export interface Vote {
  voter: string;
  vote: 'approve' | 'deny';
  team?: string;
  at: number;
  reason?: string;
}

/**
 * A gate as the store holds it. Times are epoch milliseconds. `request` is the bounded action
 * exactly as the agent sent it (what `evidenceHash` covers); `delivery` is kept apart.
 */
export interface Gate {
  id: string;
  agentId: string;
  state: GateState;
  /** Increments on every transition; job ids carry it. */
  version: number;
  request: BoundedAction;
  delivery: Delivery;
  evidenceHash: string;
  decision: Decision;
  createdAt: number;
  updatedAt: number;
  /** End of the review window (pending_review). */
  reviewDeadline?: number;
  /** End of the execution window (approved → redeem). */
  executionDeadline?: number;
  votes: Vote[];
  /** Set on terminal states: who or what ended the gate, and why. */
  resolution?: { event: string; actor: string; at: number; reason?: string };
  /** Facts attached by later steps (grant id, Slack message ref, outcome calls …). */
  annotations: Record<string, unknown>;
}

/** The deadline that applies to the gate's current state, if any. */
export function activeDeadline(gate: Pick<Gate, 'state' | 'reviewDeadline' | 'executionDeadline'>): number | undefined {
  if (gate.state === 'pending_review') return gate.reviewDeadline;
  if (gate.state === 'approved') return gate.executionDeadline;
  return undefined;
}
