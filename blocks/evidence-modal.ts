import type { Gate } from '../src/core/gate.js';
import { evidenceText, splitText } from './evidence.js';
import { code, mrkdwn, plain, plural, revealInvisible } from './format.js';
import { ACTION_EVIDENCE_NEXT, ACTION_EVIDENCE_PREVIOUS, BLOCK_EVIDENCE_NAV, CALLBACK_EVIDENCE } from './ids.js';
import { BLOCK_KIT, BUDGET } from './kit-limits.js';
import type { ActionsBlock, Block, Button, ModalView, RichTextBlock } from './types.js';
import { utf8Length } from './validate.js';

export { ACTION_EVIDENCE_NEXT, ACTION_EVIDENCE_PREVIOUS, BLOCK_EVIDENCE_NAV, CALLBACK_EVIDENCE } from './ids.js';

/** What the evidence modal keeps in `private_metadata`. */
export interface EvidenceModalMetadata {
  gateId: string;
  page: number;
}

/** One preformatted piece of one evidence section. */
interface Piece {
  title: string;
  /** 0 for the first piece of its section. */
  part: number;
  text: string;
}

/** Blocks a page keeps free for the header context and the page buttons. */
const RESERVED_BLOCKS = 4;

function pieceBlock(piece: Piece, continuesOnPage: boolean): RichTextBlock {
  const heading = piece.part === 0 ? piece.title : continuesOnPage ? undefined : `${piece.title} (continued)`;
  return {
    type: 'rich_text',
    elements: [
      ...(heading ? [{ type: 'rich_text_section' as const, elements: [{ type: 'text' as const, text: `${heading}\n`, style: { bold: true } }] }] : []),
      { type: 'rich_text_preformatted', elements: [{ type: 'text', text: piece.text }] },
    ],
  };
}

/**
 * All evidence, masked, cut into pieces and packed into pages that each stay well inside a
 * modal's limits (blocks, characters per text, bytes per view).
 */
function paginate(gate: Gate): { pages: Piece[][]; masked: number } {
  const { sections, masked } = evidenceText(gate.request.evidence);
  // Invisible direction overrides would reorder a diff or command as reviewers read it: shown, not applied.
  const pieces: Piece[] = sections.flatMap((s) => splitText(revealInvisible(s.text), BUDGET.preformattedChunk).map((text, part) => ({ title: s.title, part, text })));
  const pages: Piece[][] = [];
  let page: Piece[] = [];
  let bytes = 0;
  for (const piece of pieces) {
    const size = utf8Length(JSON.stringify(pieceBlock(piece, false)));
    if (page.length > 0 && (page.length >= BLOCK_KIT.viewBlocks - RESERVED_BLOCKS || bytes + size > BUDGET.viewBytes)) {
      pages.push(page);
      page = [];
      bytes = 0;
    }
    page.push(piece);
    bytes += size;
  }
  pages.push(page);
  return { pages, masked };
}

/** How many pages the evidence modal of `gate` has (at least 1). */
export function evidencePageCount(gate: Gate): number {
  return paginate(gate).pages.length;
}

function navButton(actionId: string, label: string, page: number): Button {
  return { type: 'button', action_id: actionId, text: plain(label, BLOCK_KIT.buttonText), value: String(page) };
}

/**
 * The evidence modal, page `page` (0-based, clamped): diff, commands, parameters and plan in
 * full, secrets masked, with Previous / Next buttons whose value is the page they show.
 */
export function renderEvidenceModal(gate: Gate, page: number): ModalView {
  const { pages, masked } = paginate(gate);
  const count = pages.length;
  const current = Math.min(Math.max(0, Number.isInteger(page) ? page : 0), count - 1);
  const pieces = pages[current] ?? [];
  const req = gate.request;

  const about = [`${code(req.action, 100)} in ${code(req.environment, 60)} · evidence hash ${code(gate.evidenceHash, 80)}`];
  if (count > 1) about.push(`Page ${current + 1} of ${count}`);
  if (masked > 0) about.push(`:lock: ${plural(masked, 'secret')} masked; the hash covers the original`);
  const blocks: Block[] = [{ type: 'context', elements: about.map((t) => mrkdwn(t, BLOCK_KIT.text)) }];
  if (pieces.length === 0) blocks.push({ type: 'section', text: mrkdwn('No diff, commands, parameters or plan were attached to this request.', BLOCK_KIT.text) });
  pieces.forEach((piece, i) => blocks.push(pieceBlock(piece, i > 0)));
  if (count > 1) {
    const nav: ActionsBlock = { type: 'actions', block_id: BLOCK_EVIDENCE_NAV, elements: [] };
    if (current > 0) nav.elements.push(navButton(ACTION_EVIDENCE_PREVIOUS, '← Previous', current - 1));
    if (current < count - 1) nav.elements.push(navButton(ACTION_EVIDENCE_NEXT, 'Next →', current + 1));
    blocks.push(nav);
  }
  const metadata: EvidenceModalMetadata = { gateId: gate.id, page: current };
  return {
    type: 'modal',
    callback_id: CALLBACK_EVIDENCE,
    title: plain(count > 1 ? `Evidence ${current + 1}/${count}` : 'Evidence', BLOCK_KIT.viewTitle),
    close: plain('Close', BLOCK_KIT.viewTitle),
    private_metadata: JSON.stringify(metadata),
    blocks,
  };
}

/** Reads the modal's `private_metadata`; `undefined` when it is not ours. */
export function parseEvidenceModalMetadata(raw: string): EvidenceModalMetadata | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value !== 'object' || value === null) return undefined;
    const { gateId, page } = value as Record<string, unknown>;
    return typeof gateId === 'string' && typeof page === 'number' && Number.isInteger(page) ? { gateId, page } : undefined;
  } catch {
    return undefined;
  }
}
