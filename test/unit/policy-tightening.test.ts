import { describe, expect, test } from '@jest/globals';
import { policyTightening } from '../../src/app/redeem-grant.js';
import type { Decision } from '../../src/core/decision.js';
import type { Gate } from '../../src/core/gate.js';

const review = (over: Partial<NonNullable<Decision['review']>> = {}) =>
  ({ reviewerSet: 'service-owners', quorum: 1, distinctTeams: 0, breakGlassAllowed: true, excludeAgentOwner: false, grantTtlSeconds: 300, ...over }) as NonNullable<Decision['review']>;
const decision = (over: Partial<Decision> = {}) => ({ outcome: 'review', review: review(), rules: [], agentOwner: 'U_OWNER', ...over }) as unknown as Decision;
const gate = (votes: Array<{ voter: string; team?: string }>, stored = decision()) =>
  ({ decision: stored, votes: votes.map((v) => ({ ...v, vote: 'approve', at: 0 })), resolution: { event: 'approve', actor: 'slack:x', at: 0 } }) as unknown as Pick<Gate, 'decision' | 'votes' | 'resolution'>;

/** The gate's reviewer set as it stands (user id → team). */
const members = new Map([['U_ELENA', 'security'], ['U_OWNER', ''], ['U_DAVID', 'security']]);

describe('policyTightening', () => {
  test('the same policy releases the gate', () => {
    expect(policyTightening(gate([{ voter: 'U_ELENA' }]), decision(), members)).toBeUndefined();
  });

  test('another reviewer set now: the approvals were not theirs', () => {
    expect(policyTightening(gate([{ voter: 'U_ELENA' }]), decision({ review: review({ reviewerSet: 'security' }) }), members)).toBe(
      'current policy has this request reviewed by security; it was approved by reviewers of service-owners',
    );
  });

  test("owners excluded now, and the owner approved: refused; another's approval still releases it", () => {
    const now = decision({ review: review({ excludeAgentOwner: true }) });
    expect(policyTightening(gate([{ voter: 'U_OWNER' }]), now, members)).toContain("excludes the agent's owner");
    expect(policyTightening(gate([{ voter: 'U_ELENA' }]), now, members)).toBeUndefined();
  });

  test('an approval by someone no longer among the reviewers does not count towards the quorum', () => {
    const two = decision({ review: review({ quorum: 2 }) });
    expect(policyTightening(gate([{ voter: 'U_ELENA' }, { voter: 'U_DAVID' }]), two, members)).toBeUndefined();
    const withoutDavid = new Map([...members].filter(([id]) => id !== 'U_DAVID'));
    expect(policyTightening(gate([{ voter: 'U_ELENA' }, { voter: 'U_DAVID' }]), two, withoutDavid)).toBe(
      "current policy needs 2 approvals; 1 of this gate's 2 came from people no longer among its reviewers",
    );
    // Quorum 1: the remaining approval is enough.
    expect(policyTightening(gate([{ voter: 'U_ELENA' }, { voter: 'U_DAVID' }]), decision(), withoutDavid)).toBeUndefined();
    // Nobody left in the set: nothing counts.
    expect(policyTightening(gate([{ voter: 'U_ELENA' }]), decision(), new Map())).toContain('no longer among its reviewers');
  });

  test('a gate allowed outright is compared by outcome only', () => {
    const allowed = decision({ outcome: 'allow', review: undefined } as Partial<Decision>);
    expect(policyTightening(gate([], allowed), decision({ outcome: 'allow', review: undefined } as Partial<Decision>), members)).toBeUndefined();
  });
});
