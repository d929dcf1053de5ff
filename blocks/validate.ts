import { Checker, isObj, type Problem } from './block-checker.js';
import { BLOCK_KIT } from './kit-limits.js';

/**
 * Validators that answer the way Slack's Web API does when it refuses Block Kit. The renderers'
 * tests and the Slack Web API stand-in share them, so "renders within limits" means one thing.
 * They take `unknown`: the stand-in feeds them whatever a client sent.
 */

/** Why Slack would refuse a payload: its error code and, for structure, where and what. */
export interface SlackRejection {
  /** Slack's error code: `invalid_blocks`, `msg_blocks_too_long`, `no_text`, `invalid_arguments` … */
  error: string;
  /** JSON pointer of the first problem, e.g. `/blocks/3/text`. */
  pointer?: string;
  /** The first problem in words. */
  message?: string;
  /** Every problem in Slack's `response_metadata.messages` form: `[ERROR] … [json-pointer:/…]`. */
  messages: string[];
}

/** UTF-8 size of a string without allocating it (views are capped in bytes). */
export function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i += 1) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      bytes += 4;
      i += 1;
    } else bytes += 3;
  }
  return bytes;
}

function rejection(error: string, problems: Problem[]): SlackRejection {
  const first = problems[0];
  return {
    error,
    ...(first ? { pointer: first.pointer, message: first.message } : {}),
    messages: problems.map((x) => `[ERROR] ${x.message} [json-pointer:${x.pointer}]`),
  };
}

/** Total text a message's blocks carry, as counted against Slack's ~12,000-character cap. */
export function blockTextLength(blocks: unknown): number {
  const checker = new Checker();
  checker.blocks(blocks, '/blocks', Number.MAX_SAFE_INTEGER);
  return checker.blockText;
}

/**
 * What chat.postMessage / chat.update would say about a message, or `undefined` when Slack
 * would take it. Stricter than Slack in one way: a message with blocks must also carry a
 * fallback `text` (`no_text`), because notifications and screen readers show only that.
 */
export function validateMessage(message: { text?: unknown; blocks?: unknown }): SlackRejection | undefined {
  const { text, blocks } = message;
  if (text !== undefined && typeof text !== 'string') return rejection('invalid_arguments', [{ pointer: '/text', message: 'must be a string' }]);
  if (typeof text !== 'string' || text.trim() === '') return rejection('no_text', []);
  if (text.length > BLOCK_KIT.messageText) return rejection('msg_too_long', []);
  if (blocks === undefined) return undefined;
  const checker = new Checker();
  checker.blocks(blocks, '/blocks', BLOCK_KIT.messageBlocks);
  if (checker.problems.length > 0) return rejection('invalid_blocks', checker.problems);
  if (checker.blockText > BLOCK_KIT.messageBlockText) return rejection('msg_blocks_too_long', []);
  return undefined;
}

function validateAnyView(view: unknown, expected: 'modal' | 'home'): SlackRejection | undefined {
  const checker = new Checker();
  if (!checker.object(view, '/view')) return rejection('invalid_arguments', checker.problems);
  if (view.type !== expected) return rejection('invalid_arguments', [{ pointer: '/view/type', message: `must be ${expected}` }]);
  const common = ['type', 'blocks', 'callback_id', 'private_metadata', 'external_id'];
  checker.fields(view, '/view', expected === 'modal' ? [...common, 'title', 'close', 'submit', 'clear_on_close', 'notify_on_close', 'submit_disabled'] : common);
  if (expected === 'modal') {
    checker.text(view, 'title', '/view', BLOCK_KIT.viewTitle, { plainOnly: true, required: true });
    checker.text(view, 'close', '/view', BLOCK_KIT.viewTitle, { plainOnly: true });
    checker.text(view, 'submit', '/view', BLOCK_KIT.viewTitle, { plainOnly: true });
    const hasInput = Array.isArray(view.blocks) && view.blocks.some((b) => isObj(b) && b.type === 'input');
    if (hasInput && view.submit === undefined) checker.fail('/view', 'missing required field: submit (the view has input blocks)');
  }
  checker.string(view, 'private_metadata', '/view', BLOCK_KIT.privateMetadata);
  checker.string(view, 'callback_id', '/view', BLOCK_KIT.callbackId);
  checker.string(view, 'external_id', '/view', BLOCK_KIT.externalId);
  checker.blocks(view.blocks, '/view/blocks', BLOCK_KIT.viewBlocks);
  if (checker.problems.length > 0) return rejection('invalid_arguments', checker.problems);
  if (utf8Length(JSON.stringify(view)) > BLOCK_KIT.viewBytes) {
    return rejection('invalid_arguments', [{ pointer: '/view', message: `must be smaller than ${BLOCK_KIT.viewBytes} bytes` }]);
  }
  return undefined;
}

/** What views.open / views.update / views.push would say about a modal, or `undefined`. */
export function validateView(view: unknown): SlackRejection | undefined {
  return validateAnyView(view, 'modal');
}

/** What views.publish would say about an App Home view, or `undefined`. */
export function validateHome(view: unknown): SlackRejection | undefined {
  return validateAnyView(view, 'home');
}
