// Block Kit, rendered as Slack's client would show it, into DOM nodes (never HTML strings):
// header, section (text, fields, button accessory), context, divider, actions (buttons with
// confirm dialogs), rich_text (sections, preformatted, quotes, lists), input (plain_text_input)
// and image (as its alt text). Unknown blocks show a placeholder rather than disappearing.

import { emojify, renderMrkdwn, renderText } from './mrkdwn.js';

function el(tag, className, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) if (child !== undefined && child !== null) node.append(child);
  return node;
}

/**
 * Asks before a button with a `confirm` object acts, as Slack does. Resolves true to go on.
 */
export function confirmDialog(confirm, dir) {
  return new Promise((resolve) => {
    const close = (answer) => {
      overlay.remove();
      document.removeEventListener('keydown', onKey);
      resolve(answer);
    };
    const onKey = (e) => {
      if (e.key === 'Escape') close(false);
    };
    const yes = el('button', `btn ${confirm.style === 'danger' ? 'btn-danger' : 'btn-primary'}`, [renderText(confirm.confirm ?? { type: 'plain_text', text: 'Yes' }, dir)]);
    const no = el('button', 'btn', [renderText(confirm.deny ?? { type: 'plain_text', text: 'Cancel' }, dir)]);
    yes.addEventListener('click', () => close(true));
    no.addEventListener('click', () => close(false));
    const box = el('div', 'dialog confirm', [
      el('h2', 'dialog-title', [renderText(confirm.title ?? { type: 'plain_text', text: 'Are you sure?' }, dir)]),
      el('div', 'dialog-body', [renderText(confirm.text, dir)]),
      el('div', 'dialog-footer', [no, yes]),
    ]);
    box.setAttribute('role', 'alertdialog');
    box.setAttribute('aria-modal', 'true');
    const overlay = el('div', 'overlay overlay-confirm', [box]);
    document.body.append(overlay);
    document.addEventListener('keydown', onKey);
    yes.focus();
  });
}

function button(element, block, ctx) {
  const b = el('button', `btn${element.style === 'primary' ? ' btn-primary' : element.style === 'danger' ? ' btn-danger' : ''}`, [renderText(element.text, ctx.dir)]);
  b.type = 'button';
  b.dataset.actionId = element.action_id ?? '';
  if (element.accessibility_label) b.setAttribute('aria-label', element.accessibility_label);
  if (element.url && /^https?:/i.test(element.url)) b.title = element.url;
  b.addEventListener('click', async () => {
    if (element.confirm && !(await confirmDialog(element.confirm, ctx.dir))) return;
    if (element.url && /^https?:/i.test(element.url)) window.open(element.url, '_blank', 'noopener,noreferrer');
    b.disabled = true;
    try {
      await ctx.onAction(element, block);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

function richTextElements(elements, ctx) {
  const out = [];
  for (const e of elements ?? []) {
    if (e.type === 'text') {
      let node = document.createTextNode(e.text ?? '');
      const style = e.style ?? {};
      if (style.code) node = el('code', '', [node]);
      if (style.bold) node = el('strong', '', [node]);
      if (style.italic) node = el('em', '', [node]);
      if (style.strike) node = el('s', '', [node]);
      out.push(node);
    } else if (e.type === 'link' && /^(https?:|mailto:)/i.test(e.url ?? '')) {
      const a = el('a', '', [e.text ?? e.url]);
      a.href = e.url;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      out.push(a);
    } else if (e.type === 'user') {
      out.push(el('span', 'mention', [`@${ctx.dir.user(e.user_id)?.name ?? e.user_id}`]));
    } else if (e.type === 'usergroup') {
      out.push(el('span', 'mention', [`@${ctx.dir.group(e.usergroup_id)?.handle ?? e.usergroup_id}`]));
    } else if (e.type === 'channel') {
      out.push(el('span', 'mention', [`#${ctx.dir.channel(e.channel_id)?.name ?? e.channel_id}`]));
    } else if (e.type === 'emoji') {
      out.push(document.createTextNode(emojify(`:${e.name}:`)));
    } else if (typeof e.text === 'string') {
      out.push(document.createTextNode(e.text));
    }
  }
  return out;
}

function richText(block, ctx) {
  const box = el('div', 'rich-text');
  for (const part of block.elements ?? []) {
    if (part.type === 'rich_text_preformatted') box.append(el('pre', `pre${part.border === 0 ? ' pre-borderless' : ''}`, richTextElements(part.elements, ctx)));
    else if (part.type === 'rich_text_quote') box.append(el('blockquote', 'quote', richTextElements(part.elements, ctx)));
    else if (part.type === 'rich_text_list') {
      const list = el(part.style === 'ordered' ? 'ol' : 'ul');
      for (const item of part.elements ?? []) list.append(el('li', '', richTextElements(item.elements, ctx)));
      box.append(list);
    } else box.append(el('div', 'rich-section', richTextElements(part.elements, ctx)));
  }
  return box;
}

function input(block, ctx) {
  const element = block.element ?? {};
  const id = `in-${block.block_id}-${element.action_id}`;
  const label = el('label', 'input-label', [renderText(block.label, ctx.dir), block.optional ? el('span', 'optional', [' (optional)']) : null]);
  label.htmlFor = id;
  let field;
  if (element.type === 'plain_text_input') {
    field = el(element.multiline ? 'textarea' : 'input', 'input');
    if (!element.multiline) field.type = 'text';
    field.value = element.initial_value ?? '';
    if (element.placeholder) field.placeholder = element.placeholder.text ?? '';
    if (element.max_length) field.maxLength = element.max_length;
    if (element.focus_on_load) queueMicrotask(() => field.focus());
    ctx.inputs?.push({ blockId: block.block_id, actionId: element.action_id, type: element.type, field });
  } else {
    field = el('div', 'unsupported', [`[${element.type} input is not shown in the sandbox]`]);
  }
  field.id = id;
  const error = ctx.errors?.[block.block_id];
  return el('div', `input-block${error ? ' has-error' : ''}`, [
    label,
    field,
    block.hint ? el('div', 'hint', [renderText(block.hint, ctx.dir)]) : null,
    error ? el('div', 'input-error', [error]) : null,
  ]);
}

function one(block, ctx) {
  switch (block.type) {
    case 'header':
      return el('h3', 'b-header', [renderText(block.text, ctx.dir)]);
    case 'section': {
      const section = el('div', 'b-section');
      const body = el('div', 'b-section-body');
      if (block.text) body.append(el('div', 'b-text', [renderText(block.text, ctx.dir)]));
      if (block.fields?.length) body.append(el('div', 'b-fields', block.fields.map((f) => el('div', 'b-field', [renderText(f, ctx.dir)]))));
      section.append(body);
      if (block.accessory?.type === 'button') section.append(el('div', 'b-accessory', [button(block.accessory, block, ctx)]));
      return section;
    }
    case 'context':
      return el('div', 'b-context', (block.elements ?? []).map((e) => (e.type === 'image' ? el('span', 'ctx-image', [e.alt_text ?? '']) : el('span', 'ctx-item', [renderText(e, ctx.dir)]))));
    case 'divider':
      return el('hr', 'b-divider');
    case 'actions':
      return el('div', 'b-actions', (block.elements ?? []).map((e) => (e.type === 'button' ? button(e, block, ctx) : el('span', 'unsupported', [`[${e.type}]`]))));
    case 'rich_text':
      return richText(block, ctx);
    case 'input':
      return input(block, ctx);
    case 'image':
      return el('div', 'b-image', [`🖼 ${block.alt_text ?? 'image'}`]);
    default:
      return el('div', 'unsupported', [`[${block.type} block]`]);
  }
}

/**
 * Renders blocks. `ctx`: `{ dir, onAction(element, block), inputs?: [], errors?: {blockId: text} }`.
 */
export function renderBlocks(blocks, ctx) {
  const box = el('div', 'blocks');
  for (const block of blocks ?? []) {
    const node = one(block, ctx);
    if (block.block_id) node.dataset.blockId = block.block_id;
    box.append(node);
  }
  return box;
}

/** A message's content: its blocks, or its fallback text as mrkdwn when it has none. */
export function renderMessageBody(message, ctx) {
  if (message.blocks?.length) return renderBlocks(message.blocks, ctx);
  return el('div', 'b-text', [renderMrkdwn(message.text ?? '', ctx.dir)]);
}
