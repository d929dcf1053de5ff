import { describe, expect, test } from '@jest/globals';
import {
  ACTION_EVIDENCE_NEXT,
  ACTION_EVIDENCE_PREVIOUS,
  evidencePageCount,
  parseEvidenceModalMetadata,
  renderEvidenceModal,
} from '../../../blocks/evidence-modal.js';
import { BLOCK_KIT, utf8Length, validateView } from '../../../blocks/limits.js';
import { maskSecrets } from '../../../blocks/mask.js';
import type { ActionsBlock, ModalView, RichTextBlock } from '../../../blocks/types.js';
import { GateRequest } from '../../../src/core/gate-request.js';
import { decisionFor, EXAMPLE_NAMES, exampleRequest, oversizedRequest, pendingGate, verboseDecision } from './fixtures.js';

/** The preformatted texts of a page, with the section title each belongs to. */
function pieces(view: ModalView): { title?: string; text: string }[] {
  return view.blocks
    .filter((b): b is RichTextBlock => b.type === 'rich_text')
    .map((b) => {
      const heading = b.elements.find((e) => e.type === 'rich_text_section');
      const body = b.elements.find((e) => e.type === 'rich_text_preformatted');
      return { title: heading?.elements[0]?.text.trim(), text: body?.elements.map((e) => e.text).join('') ?? '' };
    });
}

const nav = (view: ModalView) => view.blocks.find((b): b is ActionsBlock => b.type === 'actions');

/** A ~200 KB terraform-style diff with a secret in the middle of it. */
function bigDiff(): string {
  let diff = '';
  for (let i = 0; diff.length < 200 * 1024; i += 1) {
    diff += `  ~ resource "aws_instance" "web_${i}" { instance_type = "m5.large" -> "m5.xlarge" } # ünïcödé 🚀\n`;
    if (i === 1000) diff += '  + password = "correct-horse-battery-staple"\n';
  }
  return diff;
}

describe('renderEvidenceModal', () => {
  test.each(EXAMPLE_NAMES)('%s: one page, valid, with everything the request carries', (name) => {
    const gate = pendingGate(exampleRequest(name), decisionFor(name));
    const view = renderEvidenceModal(gate, 0);
    expect(validateView(view)).toBeUndefined();
    expect(evidencePageCount(gate)).toBe(1);
    expect(nav(view)).toBeUndefined();
    const commands = gate.request.evidence.commands ?? [];
    for (const c of commands) expect(JSON.stringify(view.blocks)).toContain(JSON.stringify(c).slice(1, -1));
  });

  test('a 200 KB diff pages correctly: every page validates and the pages reassemble the masked diff', () => {
    // Setup
    const raw = exampleRequest('terraform-apply-prod');
    const diff = bigDiff();
    const gate = pendingGate(GateRequest.parse({ ...raw, evidence: { ...raw.evidence, diff } }), decisionFor('terraform-apply-prod'), 'gt_big');

    // Execution
    const count = evidencePageCount(gate);
    const views = Array.from({ length: count }, (_, page) => renderEvidenceModal(gate, page));

    // Validation: within limits, with working navigation and metadata
    expect(count).toBeGreaterThan(1);
    views.forEach((view, page) => {
      expect(validateView(view)).toBeUndefined();
      expect(view.blocks.length).toBeLessThanOrEqual(BLOCK_KIT.viewBlocks);
      expect(utf8Length(JSON.stringify(view))).toBeLessThan(BLOCK_KIT.viewBytes / 2);
      expect(view.title.text).toBe(`Evidence ${page + 1}/${count}`);
      expect(parseEvidenceModalMetadata(view.private_metadata ?? '')).toEqual({ gateId: 'gt_big', page });
      const buttons = nav(view)?.elements ?? [];
      expect(buttons.find((b) => b.action_id === ACTION_EVIDENCE_PREVIOUS)?.value).toBe(page > 0 ? String(page - 1) : undefined);
      expect(buttons.find((b) => b.action_id === ACTION_EVIDENCE_NEXT)?.value).toBe(page < count - 1 ? String(page + 1) : undefined);
    });
    // Validation: nothing lost, nothing added, secret masked
    const all = views.flatMap(pieces);
    const bySection = new Map<string, string>();
    let current = '';
    for (const p of all) {
      if (p.title) current = p.title.replace(' (continued)', '');
      bySection.set(current, (bySection.get(current) ?? '') + p.text);
    }
    expect(bySection.get('Diff')).toBe(maskSecrets(diff).text);
    expect(bySection.get('Diff')).not.toContain('correct-horse-battery-staple');
    expect(bySection.get('Commands')).toBe('$ terraform apply -input=false plan-7f3c.tfplan');
    expect(JSON.parse(bySection.get('Parameters') ?? '')).toEqual(raw.evidence.parameters);
    expect(JSON.stringify(views[0]?.blocks[0])).toContain('1 secret masked');
    // Pages break between lines
    for (const p of all.slice(0, -3)) expect(p.text.endsWith('\n')).toBe(true);
  });

  test('the largest accepted request pages within limits too', () => {
    const gate = pendingGate(oversizedRequest(), verboseDecision(), 'g'.repeat(255));
    const count = evidencePageCount(gate);
    for (let page = 0; page < count; page += 1) expect(validateView(renderEvidenceModal(gate, page))).toBeUndefined();
  });

  test('a page outside the range shows the nearest page', () => {
    const raw = exampleRequest('terraform-apply-prod');
    const gate = pendingGate(GateRequest.parse({ ...raw, evidence: { diff: bigDiff() } }), decisionFor('terraform-apply-prod'));
    const last = evidencePageCount(gate) - 1;
    expect(parseEvidenceModalMetadata(renderEvidenceModal(gate, 999).private_metadata ?? '')?.page).toBe(last);
    expect(parseEvidenceModalMetadata(renderEvidenceModal(gate, -3).private_metadata ?? '')?.page).toBe(0);
  });

  test('a request without evidence says so', () => {
    const raw = exampleRequest('logs-read-only');
    const gate = pendingGate(GateRequest.parse({ ...raw, evidence: {} }), decisionFor('logs-read-only'));
    const view = renderEvidenceModal(gate, 0);
    expect(validateView(view)).toBeUndefined();
    expect(JSON.stringify(view.blocks)).toContain('No diff, commands, parameters or plan were attached');
  });

  test('metadata that is not ours is refused', () => {
    expect(parseEvidenceModalMetadata('not json')).toBeUndefined();
    expect(parseEvidenceModalMetadata('{"gateId":1,"page":0}')).toBeUndefined();
  });
});

describe('invisible characters in the evidence', () => {
  test('a direction override in a diff is shown, not applied', () => {
    const raw = exampleRequest('db-drop-column-prod');
    const request = { ...raw, evidence: { ...raw.evidence, diff: 'ALTER TABLE orders \u202ENMULOC PORD\u202C discount_code;' } } as GateRequest;
    const view = renderEvidenceModal(pendingGate(request, decisionFor('db-drop-column-prod')), 0);
    const text = JSON.stringify(view);
    expect(text).not.toMatch(/[\u202A-\u202E]/);
    expect(text).toContain('⟦U+202E⟧NMULOC PORD⟦U+202C⟧');
    expect(validateView(view)).toBeUndefined();
  });
});
