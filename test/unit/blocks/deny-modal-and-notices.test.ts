import { describe, expect, test } from '@jest/globals';
import { CALLBACK_DENY, DENY_REASON_ACTION, DENY_REASON_BLOCK, parseDenyModalMetadata, renderDenyModal } from '../../../blocks/deny-modal.js';
import { validateMessage, validateView } from '../../../blocks/limits.js';
import { renderDecisionThreadReply, renderRequesterNotice } from '../../../blocks/notices.js';
import { decisionFor, EXAMPLE_NAMES, exampleRequest, inState, NOW, oversizedRequest, pendingGate, SCENARIOS, verboseDecision } from './fixtures.js';

describe('renderDenyModal', () => {
  test('asks for a required multiline reason and keeps the gate id', () => {
    const gate = pendingGate(exampleRequest('db-drop-column-prod'), decisionFor('db-drop-column-prod'), 'gt_deny');
    const view = renderDenyModal(gate);
    expect(validateView(view)).toBeUndefined();
    expect(view.callback_id).toBe(CALLBACK_DENY);
    expect(parseDenyModalMetadata(view.private_metadata ?? '')).toEqual({ gateId: 'gt_deny' });
    const input = view.blocks.find((b) => b.type === 'input');
    expect(input).toMatchObject({ block_id: DENY_REASON_BLOCK, element: { type: 'plain_text_input', action_id: DENY_REASON_ACTION, multiline: true } });
    expect(input && 'optional' in input ? input.optional : false).toBeFalsy();
    expect(JSON.stringify(view.blocks)).toContain('Drop column legacy_discount_code from orders (irreversible)');
  });

  test('stays valid for the largest request', () => {
    expect(validateView(renderDenyModal(pendingGate(oversizedRequest(), verboseDecision(), 'g'.repeat(255))))).toBeUndefined();
  });

  test('metadata that is not ours is refused', () => {
    expect(parseDenyModalMetadata('{"page":1}')).toBeUndefined();
    expect(parseDenyModalMetadata('gt_1')).toBeUndefined();
  });
});

describe('requester notice and decision thread reply', () => {
  const cases = EXAMPLE_NAMES.flatMap((name) => SCENARIOS.map((s) => [name, s] as const));

  test.each(cases)('%s (%s): both are messages Slack accepts', (name, scenario) => {
    const gate = inState(pendingGate(exampleRequest(name), decisionFor(name)), scenario);
    expect(validateMessage(renderRequesterNotice(gate, { now: NOW, permalink: 'https://acme.slack.com/archives/C1/p1', reviewers: '<!subteam^S1>' }))).toBeUndefined();
    expect(validateMessage(renderDecisionThreadReply(gate))).toBeUndefined();
  });

  test('the requester learns who reviews, until when, and that they cannot approve', () => {
    const gate = pendingGate(exampleRequest('terraform-apply-prod'), decisionFor('terraform-apply-prod'));
    const { text, blocks } = renderRequesterNotice(gate, { now: NOW, permalink: 'https://acme.slack.com/archives/C1/p1700000000000100', reviewers: '<!subteam^S1>' });
    const shown = JSON.stringify(blocks);
    expect(text).toBe('Approval needed: terraform.apply in production, requested on your behalf by agent agent-ops-copilot');
    expect(shown).toContain('Waiting for review by <!subteam^S1> (2 approvals needed) until <!date^');
    expect(shown).toContain('You cannot approve your own request.');
    expect(shown).toContain('<https://acme.slack.com/archives/C1/p1700000000000100|Open the change record>');
  });

  test('the requester later learns the outcome, with the deny reason', () => {
    const gate = inState(pendingGate(exampleRequest('terraform-apply-prod'), decisionFor('terraform-apply-prod')), 'denied');
    const { text, blocks } = renderRequesterNotice(gate, { now: NOW });
    expect(text).toMatch(/^Denied: terraform.apply in production/);
    expect(JSON.stringify(blocks)).toContain('Denied* by <@U0REVIEW3>');
    expect(JSON.stringify(blocks)).toContain('Not during the payments freeze');
  });

  test('a permalink that is not a plain URL is left out', () => {
    const gate = pendingGate(exampleRequest('k8s-deploy-staging'), decisionFor('k8s-deploy-staging'));
    const shown = JSON.stringify(renderRequesterNotice(gate, { now: NOW, permalink: 'https://x|<!channel>' }).blocks);
    expect(shown).not.toContain('Open the change record');
  });

  test('the thread reply records who decided, on which evidence and policy', () => {
    const gate = inState(pendingGate(exampleRequest('db-drop-column-prod'), decisionFor('db-drop-column-prod')), 'approved');
    const { text, blocks } = renderDecisionThreadReply(gate);
    expect(text).toBe('Approved: db.migrate in production, approved by <@U0REVIEW1>, <@U0REVIEW2>');
    const shown = JSON.stringify(blocks);
    expect(shown).toContain(gate.evidenceHash);
    expect(shown).toContain(gate.decision.policyVersion);
    expect(shown).toContain('grant can be redeemed until <!date^');
  });
});
