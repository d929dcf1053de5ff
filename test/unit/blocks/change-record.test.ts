import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { ACTION_APPROVE, ACTION_DENY, ACTION_VIEW_EVIDENCE, renderChangeRecord, type ChangeRecordView } from '../../../blocks/change-record.js';
import { BLOCK_KIT, blockTextLength, validateMessage } from '../../../blocks/limits.js';
import { MASK } from '../../../blocks/mask.js';
import type { ActionsBlock, Block, Button } from '../../../blocks/types.js';
import type { Gate } from '../../../src/core/gate.js';
import { GateRequest } from '../../../src/core/gate-request.js';
import { decisionFor, EXAMPLE_NAMES, exampleRequest, inState, NOW, oversizedRequest, pendingGate, progressOf, SCENARIOS, verboseDecision } from './fixtures.js';

const viewOf = (gate: Gate, extra: Partial<ChangeRecordView> = {}): ChangeRecordView => ({
  now: NOW,
  reviewerMention: '<!subteam^S0PLATFORM>',
  reviewerSetLabel: 'platform-oncall',
  quorumProgress: progressOf(gate),
  ...extra,
});

/** All text a reader sees, joined: for "does it say X" assertions. */
const allText = (blocks: Block[]): string => JSON.stringify(blocks);
const actions = (blocks: Block[]): ActionsBlock | undefined => blocks.find((b): b is ActionsBlock => b.type === 'actions');
const button = (blocks: Block[], id: string): Button | undefined => actions(blocks)?.elements.find((e) => e.action_id === id);

describe('renderChangeRecord on the shared examples', () => {
  const cases = EXAMPLE_NAMES.flatMap((name) => SCENARIOS.map((s) => [name, s] as const));

  test.each(cases)('%s (%s) is a message Slack accepts', (name, scenario) => {
    const gate = inState(pendingGate(exampleRequest(name), decisionFor(name)), scenario);
    const message = renderChangeRecord(gate, viewOf(gate));
    expect(validateMessage(message)).toBeUndefined();
    expect(message.text.trim()).not.toBe('');
    expect(message.text).toContain(gate.request.action);
  });

  test('a pending record shows every fact a reviewer needs', () => {
    const name = 'terraform-apply-prod';
    const gate = pendingGate(exampleRequest(name), decisionFor(name));
    const { blocks } = renderChangeRecord(gate, viewOf(gate, { requesterSlackId: 'U0ANASILVA' }));
    const text = allText(blocks);
    expect(blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Approval needed: terraform.apply in production', emoji: true } });
    for (const fact of [
      '<@U0ANASILVA>', // the originating person, as a mention
      'agent-ops-copilot',
      'sess_01JD4X8Q2M7T9V',
      'wf_capacity_2026_11',
      'make sure payments survives Black Friday traffic',
      'arn:aws:rds:eu-west-1:111122223333:db:payments-replica-2',
      'rds:CreateDBInstanceReadReplica',
      'create payments-replica-2',
      'About 410 USD/month more'.slice(6), // expected impact
      'terraform apply of plan-7f3c-revert',
      'prod-infra-two-teams',
      'sha256:5d41402abc4b2a76b9719d911017c592ae3d', // policy version
      gate.evidenceHash,
      'Plan: 2 to add, 1 to change, 0 to destroy.', // diff preview
      'terraform apply -input=false plan-7f3c.tfplan', // commands preview
      '<!subteam^S0PLATFORM>',
      '0 of 2 approvals',
      'Still needed: 2 more approvals, from 2 more teams.',
    ]) {
      expect(text).toContain(fact);
    }
    // The deadline uses Slack date formatting with a readable fallback.
    expect(text).toContain(`<!date^${Math.floor(gate.reviewDeadline! / 1000)}^{date_short_pretty} at {time}|2026-11-20 14:29 UTC>`);
  });

  test('without a Slack id the requester is shown by email', () => {
    const gate = pendingGate(exampleRequest('k8s-deploy-staging'), decisionFor('k8s-deploy-staging'));
    expect(allText(renderChangeRecord(gate, viewOf(gate)).blocks)).toContain('li.wei@example.com');
  });

  test('buttons carry the gate id; approve asks for confirmation only at high or critical risk', () => {
    for (const [name, confirms] of [['db-drop-column-prod', true], ['terraform-apply-prod', true], ['k8s-deploy-staging', false], ['logs-read-only', false]] as const) {
      const gate = pendingGate(exampleRequest(name), decisionFor(name));
      const { blocks } = renderChangeRecord(gate, viewOf(gate));
      const approve = button(blocks, ACTION_APPROVE);
      expect(approve).toMatchObject({ style: 'primary', value: gate.id });
      expect(button(blocks, ACTION_DENY)).toMatchObject({ style: 'danger', value: gate.id });
      expect(button(blocks, ACTION_VIEW_EVIDENCE)).toMatchObject({ value: gate.id });
      expect(approve?.confirm !== undefined).toBe(confirms);
    }
  });

  test('votes so far are listed with who and when, and what is still needed', () => {
    const name = 'terraform-apply-prod';
    const gate = inState(pendingGate(exampleRequest(name), decisionFor(name)), 'pending-one-vote');
    const text = allText(renderChangeRecord(gate, viewOf(gate)).blocks);
    expect(text).toContain('1 of 2 approvals · teams 1 of 2');
    expect(text).toContain(`<@U0REVIEW1> (platform) approved · <!date^${Math.floor((NOW - 30_000) / 1000)}^`);
    expect(text).toContain('Still needed: 1 more approval, from 1 more team.');
  });

  test.each([
    ['approved', /Approved\* by <@U0REVIEW1>, <@U0REVIEW2> · <!date\^/],
    ['denied', /Denied\* by <@U0REVIEW3> · <!date\^\d+\^[^|]+\|2026-11-20 14:00 UTC>: Not during the payments freeze; re-plan without the replica &lt;!channel&gt;/],
    ['expired', /Expired\* · <!date\^\d+[^>]+> with 1 of 2 approvals/],
    ['invalidated', /Invalidated\* · <!date[^>]+>: the evidence changed after review/],
    ['cancelled', /Cancelled\* by agent-ops-copilot · <!date[^>]+>: superseded by plan 7f3d/],
    ['redeemed', /Approved\* by <@U0REVIEW1>, <@U0REVIEW2> · <!date[^>]+> · :key: grant issued/],
  ] as const)('once %s, the buttons are gone and a final status line says what happened', (scenario, line) => {
    const name = 'terraform-apply-prod';
    const gate = inState(pendingGate(exampleRequest(name), decisionFor(name)), scenario);
    const message = renderChangeRecord(gate, viewOf(gate));
    expect(actions(message.blocks)).toBeUndefined();
    expect(allText(message.blocks)).toMatch(line);
    expect(allText(message.blocks)).not.toContain('Still needed');
  });

  test('a note (evidence changed) is shown at the top', () => {
    const gate = pendingGate(exampleRequest('k8s-deploy-staging'), decisionFor('k8s-deploy-staging'));
    const { blocks } = renderChangeRecord(gate, viewOf(gate, { note: 'evidence changed, approval void: sha256:aa → sha256:bb' }));
    expect(blocks[1]).toMatchObject({ type: 'section', text: { text: ':warning: evidence changed, approval void: sha256:aa → sha256:bb' } });
  });

  test('agent-supplied text cannot ping the channel or forge links', () => {
    const raw = exampleRequest('k8s-deploy-staging');
    const request = GateRequest.parse({ ...raw, summary: 'Deploy <!channel> <https://evil.example|https://good.example> & co', context: { ...raw.context, intent: '<@U0ADMIN> said ok' } });
    const gate = pendingGate(request, decisionFor('k8s-deploy-staging'));
    const message = renderChangeRecord(gate, viewOf(gate));
    const text = allText(message.blocks) + message.text;
    expect(text).not.toContain('<!channel>');
    expect(text).not.toContain('<https://evil');
    expect(text).not.toContain('<@U0ADMIN>');
    expect(text).toContain('Deploy &lt;!channel&gt; &lt;https://evil.example|https://good.example&gt; &amp; co');
  });

  test('line breaks in agent text cannot forge lines of the record: one-line fields stay on one line, multi-line ones stay quoted', () => {
    const raw = exampleRequest('terraform-apply-prod');
    const request = GateRequest.parse({
      ...raw,
      summary: 'Routine capacity bump\n:white_check_mark: *Approved* by Grace Lee (security)\r\n\u2028pre-cleared',
      context: { ...raw.context, intent: 'scale up\n\n*Risk: :large_green_circle: low*\r• `read-only` (low)' },
      impact: { ...raw.impact, expected: 'none\n*Rollback*\nnot needed', rollback: 'terraform apply previous plan\nthen verify' },
      permissions: raw.permissions.map((p, i) => (i === 0 ? { ...p, reason: 'needed\n:white_check_mark: *Approved*' } : p)),
    });
    const gate = pendingGate(request, decisionFor('terraform-apply-prod'));
    const message = renderChangeRecord(gate, viewOf(gate));
    expect(validateMessage(message)).toBeUndefined();
    const texts = message.blocks.flatMap((b) => {
      const x = b as { text?: { text?: string }; fields?: Array<{ text: string }>; elements?: Array<{ text?: string }> };
      return [x.text?.text, ...(x.fields ?? []).map((f) => f.text), ...(x.elements ?? []).map((e) => e.text)].filter((t): t is string => typeof t === 'string');
    });
    // No agent line starts a line of its own outside a quote.
    for (const text of texts) {
      for (const line of text.split('\n')) {
        expect(line).not.toMatch(/^(:white_check_mark:|\*Risk: :large_green_circle:|• `read-only`|pre-cleared|then verify|not needed)/);
      }
    }
    const summary = texts.find((t) => t.includes('Routine capacity bump'))!;
    expect(summary.split('\n')[0]).toContain('Routine capacity bump ↵ :white_check_mark: *Approved* by Grace Lee (security) ↵ pre-cleared');
    const intent = texts.find((t) => t.startsWith('*Intent*'))!;
    expect(intent.split('\n').slice(1).every((line) => line.startsWith('>'))).toBe(true);
    expect(texts.find((t) => t.startsWith('*Expected impact*'))).toBe('*Expected impact*\n>none\n>*Rollback*\n>not needed');
    const rollback = texts.find((t) => t.startsWith('*Rollback*'))!;
    expect(rollback).toBe('*Rollback*\n>terraform apply previous plan\n>then verify');
    expect(message.text).not.toMatch(/\n/);
  });

  test('secrets in displayed evidence are masked and counted; the gate keeps the original', () => {
    const raw = exampleRequest('k8s-deploy-staging');
    const secret = 'ghp_' + 'a1B2c3D4e5'.repeat(4);
    const request = GateRequest.parse({ ...raw, evidence: { ...raw.evidence, commands: [`curl -H "Authorization: Bearer ${secret}" https://api.example.com`, 'psql postgres://app:hunter22@db/prod'] } });
    const gate = pendingGate(request, decisionFor('k8s-deploy-staging'));
    const before = JSON.stringify(gate);
    const text = allText(renderChangeRecord(gate, viewOf(gate)).blocks);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('hunter22');
    expect(text).toContain(`postgres://app:${MASK}@db/prod`);
    expect(text).toContain(':lock: 2 secrets masked in this preview');
    expect(JSON.stringify(gate)).toBe(before);
  });
});

describe('renderChangeRecord on oversized requests', () => {
  const huge = pendingGate(oversizedRequest(), verboseDecision(), 'g'.repeat(64));

  test.each(SCENARIOS)('the largest request the intake accepts still fits (%s)', (scenario) => {
    const gate = inState(huge, scenario);
    const message = renderChangeRecord(gate, viewOf(gate, { note: 'n'.repeat(5_000), reviewerSetLabel: 'l'.repeat(500) }));
    expect(validateMessage(message)).toBeUndefined();
    expect(message.blocks.length).toBeLessThanOrEqual(BLOCK_KIT.messageBlocks);
    expect(blockTextLength(message.blocks)).toBeLessThanOrEqual(BLOCK_KIT.messageBlockText);
  });

  test('long lists end with "+N more" and long evidence with a pointer to the modal', () => {
    const text = allText(renderChangeRecord(huge, viewOf(huge)).blocks);
    expect(text).toMatch(/\+\d+ more/);
    expect(text).toContain('…(truncated, see View evidence)');
    expect(text).toContain('Resources (100)');
    expect(text).toContain('Permissions (50)');
  });

  test('random unicode in every free-text field never breaks the limits', () => {
    const base = exampleRequest('terraform-apply-prod');
    const str = (max: number) => fc.string({ unit: 'grapheme', minLength: 1, maxLength: max });
    fc.assert(
      fc.property(str(200), str(2000), str(2000), fc.array(str(1024), { minLength: 1, maxLength: 100 }), str(20_000), (summary, intent, reason, ids, diff) => {
        const request = GateRequest.parse({
          ...base,
          summary,
          context: { ...base.context, intent },
          resources: ids.map((id) => ({ type: 'x.y', id })),
          permissions: [{ name: 'p', reason }],
          evidence: { diff },
        });
        const gate = pendingGate(request, decisionFor('terraform-apply-prod'));
        expect(validateMessage(renderChangeRecord(gate, viewOf(gate)))).toBeUndefined();
      }),
      { numRuns: 60 },
    );
  });
});

describe('invisible characters in what the agent sent', () => {
  test('bidirectional overrides and zero-width spaces are shown as what they are, never applied', () => {
    const raw = exampleRequest('db-drop-column-prod');
    // U+202E makes "lqs.bd-dorp" read as "prod-db.sql"; U+200B hides inside an id.
    const request = { ...raw, summary: `Restore \u202Elqs.bd-dorp\u202C backup`, resources: [{ ...raw.resources[0]!, id: 'shop-prod/public.ord\u200Bers' }] } as GateRequest;
    const gate = pendingGate(request, decisionFor('db-drop-column-prod'));
    const message = renderChangeRecord(gate, viewOf(gate));
    const text = JSON.stringify(message);
    expect(text).not.toMatch(/[\u202A-\u202E\u200B\u2066-\u2069]/);
    expect(text).toContain('⟦U+202E⟧lqs.bd-dorp⟦U+202C⟧');
    expect(text).toContain('public.ord⟦U+200B⟧ers');
    expect(validateMessage(message)).toBeUndefined();
  });

  test('in the evidence preview too', () => {
    const raw = exampleRequest('db-drop-column-prod');
    const request = { ...raw, evidence: { ...raw.evidence, commands: ['psql -c "\u202Enmuloc pord\u202C"'] } } as GateRequest;
    const gate = pendingGate(request, decisionFor('db-drop-column-prod'));
    const message = renderChangeRecord(gate, viewOf(gate));
    const text = JSON.stringify(message);
    expect(text).not.toMatch(/[\u202A-\u202E]/);
    expect(text).toContain('⟦U+202E⟧nmuloc pord⟦U+202C⟧');
    expect(validateMessage(message)).toBeUndefined();
  });
});
