/**
 * The gate state machine (DESIGN.md, "States") as one table. The Redis scripts receive the
 * allowed source states from here, so the rule lives in one place.
 */

export const GATE_STATES = [
  'pending_review',
  'approved',
  'redeemed',
  'rejected',
  'denied',
  'expired',
  'invalidated',
  'cancelled',
  'completed',
  'failed',
] as const;
export type GateState = (typeof GATE_STATES)[number];

export const GATE_EVENTS = [
  'approve',
  'break_glass',
  'deny',
  'expire',
  'cancel',
  'invalidate',
  'redeem',
  'complete',
  'fail',
] as const;
export type GateEvent = (typeof GATE_EVENTS)[number];

/** from-state → event → to-state. Anything absent is not a legal move. */
export const TRANSITIONS: Readonly<Record<GateState, Readonly<Partial<Record<GateEvent, GateState>>>>> = {
  pending_review: {
    approve: 'approved',
    break_glass: 'approved',
    deny: 'denied',
    expire: 'expired',
    cancel: 'cancelled',
    invalidate: 'invalidated',
  },
  approved: {
    redeem: 'redeemed',
    expire: 'expired',
    cancel: 'cancelled',
    invalidate: 'invalidated',
  },
  redeemed: { complete: 'completed', fail: 'failed' },
  rejected: {},
  denied: {},
  expired: {},
  invalidated: {},
  cancelled: {},
  completed: {},
  failed: {},
};

/** Terminal states never change. */
export function isTerminal(state: GateState): boolean {
  return Object.keys(TRANSITIONS[state]).length === 0;
}

/** The state an event leads to from `from`, or undefined when the move is illegal. */
export function nextState(from: GateState, event: GateEvent): GateState | undefined {
  return TRANSITIONS[from][event];
}

/** Every state from which `event` is legal, with the state it leads to (the same for all). */
export function sourcesOf(event: GateEvent): { from: GateState[]; to: GateState } {
  const from: GateState[] = [];
  let to: GateState | undefined;
  for (const state of GATE_STATES) {
    const target = TRANSITIONS[state][event];
    if (target === undefined) continue;
    if (to !== undefined && to !== target) throw new Error(`event ${event} leads to two states`);
    to = target;
    from.push(state);
  }
  if (to === undefined) throw new Error(`event ${event} is never legal`);
  return { from, to };
}

/** The state an event leaves a gate in; the same final event twice is a no-op, not a conflict. */
export function targetOf(event: GateEvent): GateState {
  return sourcesOf(event).to;
}
