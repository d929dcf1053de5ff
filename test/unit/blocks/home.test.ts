import { describe, expect, test } from '@jest/globals';
import { HOME_PENDING_CAP, renderHome, type HomeFigures, type HomeViewInput } from '../../../blocks/home.js';
import { ACTION_APPROVE, ACTION_DENY, ACTION_VIEW_EVIDENCE } from '../../../blocks/ids.js';
import { BLOCK_KIT, validateHome } from '../../../blocks/limits.js';
import type { Gate } from '../../../src/core/gate.js';
import { decisionFor, exampleRequest, inState, NOW, oversizedRequest, pendingGate, verboseDecision } from './fixtures.js';

const figures: HomeFigures = { days: 7, requests: 1200, reviewShare: 0.09, approvalRate: 0.93, medianLatencyMs: 7 * 60_000, denied: 4, expired: 2, drift: 1, breakGlass: 0, myApprovals: 12, myDenials: 1 };

/** `n` distinct pending gates, worst-case sized. */
const worst = pendingGate(oversizedRequest(), verboseDecision());
function manyPending(n: number): Gate[] {
  return Array.from({ length: n }, (_, i) => ({ ...worst, id: `g_01JD4XK9ZQ3M${String(i).padStart(14, '0')}`, reviewDeadline: NOW + (i + 1) * 60_000 }));
}

const input = (overrides: Partial<HomeViewInput> = {}): HomeViewInput => ({ now: NOW, pending: [], pendingTotal: 0, requests: [], figures, ...overrides });

describe('App Home', () => {
  test('with 500 pending gates it stays within Slack view limits, shows the cap with buttons, and counts the rest', () => {
    const pending = manyPending(500);
    const view = renderHome(input({ pending, pendingTotal: 500, requests: manyPending(40).map((g) => inState(g, 'approved')), notices: Array(9).fill('`production` is frozen') }));
    expect(validateHome(view)).toBeUndefined();
    expect(view.blocks.length).toBeLessThanOrEqual(BLOCK_KIT.viewBlocks);
    const actions = view.blocks.filter((b) => b.type === 'actions');
    expect(actions).toHaveLength(HOME_PENDING_CAP);
    expect(JSON.stringify(view)).toContain(`+${500 - HOME_PENDING_CAP} more waiting for you`);
    expect(JSON.stringify(view)).toContain('Waiting for your review (500)');
  });

  test('each pending review carries the change record’s own buttons, with the gate id as value', () => {
    const gate = pendingGate(exampleRequest('iam-attach-admin-policy'), decisionFor('iam-attach-admin-policy'));
    const view = renderHome(input({ pending: [gate], pendingTotal: 1 }));
    const actions = view.blocks.find((b) => b.type === 'actions');
    expect(actions && actions.type === 'actions' ? actions.elements.map((e) => [e.action_id, e.value]) : []).toEqual([
      [ACTION_APPROVE, gate.id],
      [ACTION_DENY, gate.id],
      [ACTION_VIEW_EVIDENCE, gate.id],
    ]);
    expect(validateHome(view)).toBeUndefined();
  });

  test('agent-supplied text cannot mention people or forge links', () => {
    const raw = { ...exampleRequest('k8s-deploy-staging'), summary: 'Deploy <!channel> now <https://evil.example|https://good.example>' };
    const gate = pendingGate(raw, decisionFor('k8s-deploy-staging'));
    const text = JSON.stringify(renderHome(input({ pending: [gate], pendingTotal: 1, requests: [gate] })));
    expect(text).not.toContain('<!channel>');
    expect(text).not.toContain('<https://evil.example');
    expect(text).toContain('&lt;!channel&gt;');
  });

  test('an empty Home says so, and the figures include the rollout smell', () => {
    const view = renderHome(input({ figures: { ...figures, reviewShare: 0.4 } }));
    const text = JSON.stringify(view);
    expect(text).toContain('Nothing waits for you');
    expect(text).toContain('No agent has asked on your behalf recently');
    expect(text).toContain('40%');
    expect(text).toContain('policy may be too coarse');
    expect(validateHome(view)).toBeUndefined();
  });
});
