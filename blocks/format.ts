import type { Mrkdwn, PlainText } from './types.js';

/**
 * Text helpers shared by the renderers. Everything an agent sent is untrusted: in `mrkdwn` it
 * is escaped so that `<!channel>` or `<https://evil|https://good>` arrive as literal text.
 */

/** Marks where a long value was cut. */
export const ELLIPSIS = '…';
/** Ends an evidence preview that was cut to fit. */
export const TRUNCATED = '…(truncated, see View evidence)';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/**
 * Invisible characters that change how text reads without showing themselves: bidirectional
 * overrides and isolates (U+202E turns `prod-db.sql` around), marks, and zero-width spaces and
 * joiners that make two different ids look alike. An agent could use them to show reviewers
 * something other than what runs, so they are shown as what they are: `⟦U+202E⟧`. (Zero-width
 * (non-)joiners inside words stay: scripts and emoji need them.)
 */
const INVISIBLE = /[\u061C\u200B\u200E\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/g;
const shownInvisible = (c: string) => `⟦U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}⟧`;

/** Makes the invisible characters above visible. */
export function revealInvisible(text: string): string {
  return text.replace(INVISIBLE, shownInvisible);
}

/** Escapes the three characters Slack's mrkdwn treats as control syntax, and reveals invisible ones. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/[&<>]/g, (c) => ESCAPES[c] ?? c).replace(INVISIBLE, shownInvisible);
}

/** How long one character of raw text is once escaped. */
function escapedLength(c: string): number {
  return ESCAPES[c]?.length ?? (INVISIBLE_ONE.test(c) ? shownInvisible(c).length : 1);
}
const INVISIBLE_ONE = new RegExp(`^${INVISIBLE.source}$`);

/** True when cutting `text` at `i` would split a surrogate pair. */
function splitsPair(text: string, i: number): boolean {
  const c = text.charCodeAt(i - 1);
  return i > 0 && i < text.length && c >= 0xd800 && c <= 0xdbff;
}

/** A safe cut position ≤ `i` that does not split a surrogate pair. */
export function safeCut(text: string, i: number): number {
  return splitsPair(text, i) ? i - 1 : i;
}

/** Cuts `text` to at most `max` characters (never inside a surrogate pair), ending with `marker`. */
export function truncate(text: string, max: number, marker = ELLIPSIS): string {
  if (text.length <= max) return text;
  if (max <= marker.length) return marker.slice(0, Math.max(0, max));
  return text.slice(0, safeCut(text, max - marker.length)) + marker;
}

/** Escapes `raw` for mrkdwn and cuts it so that the escaped result is at most `max` long. */
export function escapeTruncate(raw: string, max: number, marker = ELLIPSIS): string {
  const escaped = escapeMrkdwn(raw);
  if (escaped.length <= max) return escaped;
  const room = max - marker.length;
  let used = 0;
  let i = 0;
  for (; i < raw.length; i += 1) {
    const add = escapedLength(raw[i] as string);
    if (used + add > room) break;
    used += add;
  }
  return escapeMrkdwn(raw.slice(0, safeCut(raw, i))) + marker;
}

/** An identifier as inline code; backticks and line breaks in it cannot break out of the span. */
export function code(raw: string, max = 300): string {
  const clean = raw.replace(/`/g, 'ˋ').replace(/[\r\n\t]+/g, ' ');
  return `\`${escapeTruncate(clean, max - 2)}\``;
}

/** Slack user ids as sent by Slack (`U…`, `W…`). */
export const SLACK_USER_ID = /^[UW][A-Z0-9]{2,20}$/;

/** A person as mrkdwn: a Slack mention when `who` is a user id, else the escaped text. */
export function person(who: string, max = 120): string {
  // Actors as the audit names them (`slack:U…`) are Slack users too.
  const id = who.startsWith('slack:') ? who.slice('slack:'.length) : who;
  return SLACK_USER_ID.test(id) ? `<@${id}>` : escapeTruncate(who, max);
}

/** `2026-11-20 14:05 UTC`: what clients that cannot localise show. */
export function utcMinute(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** A time that each reader's Slack client shows in their own time zone. */
export function slackDate(ms: number): string {
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} at {time}|${utcMinute(ms)}>`;
}

export function plain(text: string, max: number): PlainText {
  return { type: 'plain_text', text: truncate(text.trim() === '' ? '—' : revealInvisible(text), max), emoji: true };
}

/** Already-formatted mrkdwn (callers escape untrusted parts), cut to `max`. */
export function mrkdwn(text: string, max: number): Mrkdwn {
  return { type: 'mrkdwn', text: truncate(text === '' ? ' ' : text, max) };
}

/** "1 approval" / "2 approvals". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * Joins lines until adding the next would pass `max`; the rest is counted as "+N more".
 * Lines are already formatted; a single over-long line is cut.
 */
export function boundedList(lines: string[], max: number, more: (n: number) => string = (n) => `+${n} more`): string {
  const out: string[] = [];
  let used = 0;
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] as string;
    const tail = i + 1 < lines.length ? more(lines.length - i - 1).length + 1 : 0;
    if (used + line.length + 1 + tail > max) {
      if (out.length === 0) out.push(truncate(line, Math.max(1, max - more(lines.length - 1).length - 1)));
      const rest = lines.length - out.length;
      if (rest > 0) out.push(more(rest));
      return out.join('\n');
    }
    out.push(line);
    used += line.length + 1;
  }
  return out.join('\n');
}
