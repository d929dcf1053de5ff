import type { Evidence } from '../src/core/gate-request.js';
import { safeCut } from './format.js';
import { maskSecrets } from './mask.js';

/**
 * The evidence of a request as reviewers read it: one text per kind (diff, commands,
 * parameters, plan), secrets masked. The change record previews these texts; the evidence
 * modal pages through them whole.
 */

export interface EvidenceSection {
  /** `diff`, `commands`, `parameters` or `plan`. */
  kind: keyof Evidence;
  title: string;
  /** The masked text. */
  text: string;
}

export interface EvidenceText {
  sections: EvidenceSection[];
  /** Secrets masked across all sections. */
  masked: number;
}

const TITLES: Record<keyof Evidence, string> = {
  diff: 'Diff',
  commands: 'Commands',
  parameters: 'Parameters',
  plan: 'Plan',
};

/** Pretty JSON for parameters and plans; `undefined` has no section. */
function pretty(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  return JSON.stringify(value, null, 2);
}

/** Builds the masked evidence sections, in a fixed order, leaving out empty ones. */
export function evidenceText(evidence: Evidence): EvidenceText {
  const raw: [keyof Evidence, string | undefined][] = [
    ['diff', evidence.diff],
    ['commands', evidence.commands?.map((c) => `$ ${c}`).join('\n')],
    ['parameters', pretty(evidence.parameters)],
    ['plan', pretty(evidence.plan)],
  ];
  const sections: EvidenceSection[] = [];
  let masked = 0;
  for (const [kind, text] of raw) {
    if (text === undefined || text === '') continue;
    const result = maskSecrets(text);
    masked += result.masked;
    sections.push({ kind, title: TITLES[kind], text: result.text });
  }
  return { sections, masked };
}

/**
 * Splits `text` into pieces of at most `max` characters whose concatenation is `text`. A piece
 * ends after a line break when one falls in its second half, so pages break between lines.
 */
export function splitText(text: string, max: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  while (start < text.length) {
    if (text.length - start <= max) {
      pieces.push(text.slice(start));
      break;
    }
    let end = safeCut(text, start + max);
    if (end <= start) end = start + Math.max(1, max);
    const newline = text.lastIndexOf('\n', end - 1);
    if (newline >= start + max / 2) end = newline + 1;
    pieces.push(text.slice(start, end));
    start = end;
  }
  return pieces;
}

/** The first `max` characters of `text`, cut after a line break when one is close to the end. */
export function headOf(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = safeCut(text, max);
  const newline = text.lastIndexOf('\n', end - 1);
  return text.slice(0, newline >= end * 0.8 ? newline + 1 : end);
}
