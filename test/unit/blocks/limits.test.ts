import { describe, expect, test } from '@jest/globals';
import { BLOCK_KIT, validateHome, validateMessage, validateView } from '../../../blocks/limits.js';

const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
const button = (extra: Record<string, unknown> = {}) => ({ type: 'button', action_id: 'a', text: { type: 'plain_text', text: 'Go' }, ...extra });
const actions = (...elements: unknown[]) => ({ type: 'actions', elements });
const msg = (...blocks: unknown[]) => ({ text: 'fallback', blocks });
const modal = (extra: Record<string, unknown> = {}) => ({ type: 'modal', title: { type: 'plain_text', text: 'Evidence' }, blocks: [section('hi')], ...extra });

describe('validateMessage', () => {
  test('accepts a message using every block type the renderers use', () => {
    const ok = msg(
      { type: 'header', text: { type: 'plain_text', text: 'h'.repeat(150) } },
      { type: 'section', text: { type: 'mrkdwn', text: 't'.repeat(3000) }, fields: Array.from({ length: 10 }, () => ({ type: 'mrkdwn', text: 'f'.repeat(400) })) },
      { type: 'divider' },
      { type: 'context', elements: Array.from({ length: 10 }, () => ({ type: 'plain_text', text: 'c' })) },
      { type: 'rich_text', elements: [{ type: 'rich_text_preformatted', elements: [{ type: 'text', text: 'diff' }] }] },
      actions(button({ style: 'primary', value: 'v'.repeat(2000), confirm: { title: { type: 'plain_text', text: 't' }, text: { type: 'mrkdwn', text: 'x' }, confirm: { type: 'plain_text', text: 'y' }, deny: { type: 'plain_text', text: 'n' } } }), button({ action_id: 'b', style: 'danger' })),
    );
    expect(validateMessage(ok)).toBeUndefined();
  });

  test.each([
    ['header over 150', msg({ type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } }), '/blocks/0/text/text', 'must be less than 151 characters'],
    ['mrkdwn header', msg({ type: 'header', text: { type: 'mrkdwn', text: 'h' } }), '/blocks/0/text/type', 'must be a valid enum value'],
    ['section text over 3000', msg(section('ok'), section('x'.repeat(3001))), '/blocks/1/text/text', 'must be less than 3001 characters'],
    ['empty text', msg(section('')), '/blocks/0/text/text', 'must be more than 0 characters'],
    ['11 fields', msg({ type: 'section', fields: Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'f' })) }), '/blocks/0/fields', 'no more than 10 items allowed'],
    ['field over 2000', msg({ type: 'section', fields: [{ type: 'mrkdwn', text: 'f'.repeat(2001) }] }), '/blocks/0/fields/0/text', 'must be less than 2001 characters'],
    ['section without text or fields', msg({ type: 'section' }), '/blocks/0', 'must provide text or fields'],
    ['unknown block type', msg({ type: 'table' }), '/blocks/0/type', 'unsupported type: table'],
    ['unknown element type', msg(actions({ type: 'toggle', action_id: 'x' })), '/blocks/0/elements/0/type', 'unsupported type: toggle'],
    ['button with disabled', msg(actions(button({ disabled: true }))), '/blocks/0/elements/0/disabled', 'unknown field: disabled'],
    ['button style secondary', msg(actions(button({ style: 'secondary' }))), '/blocks/0/elements/0/style', 'must be a valid enum value'],
    ['button text over 75', msg(actions(button({ text: { type: 'plain_text', text: 'b'.repeat(76) } }))), '/blocks/0/elements/0/text/text', 'must be less than 76 characters'],
    ['button value over 2000', msg(actions(button({ value: 'v'.repeat(2001) }))), '/blocks/0/elements/0/value', 'must be less than 2001 characters'],
    ['action_id over 255', msg(actions(button({ action_id: 'a'.repeat(256) }))), '/blocks/0/elements/0/action_id', 'must be less than 256 characters'],
    ['duplicate action_id', msg(actions(button(), button())), '/blocks/0/elements/1/action_id', 'duplicate action_id: a'],
    ['26 buttons', msg(actions(...Array.from({ length: 26 }, (_, i) => button({ action_id: `a${i}` })))), '/blocks/0/elements', 'no more than 25 items allowed'],
    ['11 context elements', msg({ type: 'context', elements: Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'c' })) }), '/blocks/0/elements', 'no more than 10 items allowed'],
    ['confirm title over 100', msg(actions(button({ confirm: { title: { type: 'plain_text', text: 't'.repeat(101) }, text: { type: 'plain_text', text: 'x' }, confirm: { type: 'plain_text', text: 'y' }, deny: { type: 'plain_text', text: 'n' } } }))), '/blocks/0/elements/0/confirm/title/text', 'must be less than 101 characters'],
    ['confirm text over 300', msg(actions(button({ confirm: { title: { type: 'plain_text', text: 't' }, text: { type: 'plain_text', text: 'x'.repeat(301) }, confirm: { type: 'plain_text', text: 'y' }, deny: { type: 'plain_text', text: 'n' } } }))), '/blocks/0/elements/0/confirm/text/text', 'must be less than 301 characters'],
    ['block_id over 255', msg({ type: 'divider', block_id: 'b'.repeat(256) }), '/blocks/0/block_id', 'must be less than 256 characters'],
    ['duplicate block_id', msg({ type: 'divider', block_id: 'd' }, { type: 'divider', block_id: 'd' }), '/blocks/1/block_id', 'duplicate block_id: d'],
    ['51 blocks', msg(...Array.from({ length: 51 }, () => ({ type: 'divider' }))), '/blocks', 'no more than 50 items allowed'],
    ['blocks not an array', { text: 't', blocks: { type: 'divider' } }, '/blocks', 'must provide an array'],
    ['bad rich text leaf', msg({ type: 'rich_text', elements: [{ type: 'rich_text_preformatted', elements: [{ type: 'emoji', name: 'x' }] }] }), '/blocks/0/elements/0/elements/0/type', 'unsupported type: emoji'],
  ])('refuses %s with invalid_blocks and a pointer', (_name, message, pointer, why) => {
    const rejection = validateMessage(message);
    expect(rejection).toMatchObject({ error: 'invalid_blocks', pointer, message: why });
    expect(rejection?.messages[0]).toBe(`[ERROR] ${why} [json-pointer:${pointer}]`);
  });

  test('refuses more than ~12,000 characters of block text with msg_blocks_too_long', () => {
    const blocks = Array.from({ length: 5 }, () => section('x'.repeat(2500)));
    expect(validateMessage({ text: 't', blocks: blocks.slice(0, 4) })).toBeUndefined();
    expect(validateMessage({ text: 't', blocks })).toEqual({ error: 'msg_blocks_too_long', messages: [] });
  });

  test.each([
    ['missing', { blocks: [section('x')] }],
    ['empty', { text: '', blocks: [section('x')] }],
    ['blank', { text: '  \n', blocks: [section('x')] }],
    ['absent with no blocks either', {}],
  ])('refuses a %s fallback text with no_text', (_name, message) => {
    expect(validateMessage(message)?.error).toBe('no_text');
  });

  test('a plain text message needs no blocks', () => {
    expect(validateMessage({ text: 'hello' })).toBeUndefined();
    expect(validateMessage({ text: 'x'.repeat(BLOCK_KIT.messageText + 1) })?.error).toBe('msg_too_long');
  });
});

describe('validateView and validateHome', () => {
  test('accept a modal and a home tab', () => {
    expect(validateView(modal({ close: { type: 'plain_text', text: 'Close' }, private_metadata: 'm'.repeat(3000) }))).toBeUndefined();
    expect(validateHome({ type: 'home', blocks: Array.from({ length: 100 }, () => ({ type: 'divider' })) })).toBeUndefined();
  });

  test.each([
    ['title over 24', modal({ title: { type: 'plain_text', text: 't'.repeat(25) } }), '/view/title/text'],
    ['missing title', { type: 'modal', blocks: [] }, '/view'],
    ['submit over 24', modal({ submit: { type: 'plain_text', text: 's'.repeat(25) } }), '/view/submit/text'],
    ['private_metadata over 3000', modal({ private_metadata: 'm'.repeat(3001) }), '/view/private_metadata'],
    ['101 blocks', modal({ blocks: Array.from({ length: 101 }, () => ({ type: 'divider' })) }), '/view/blocks'],
    ['input without submit', modal({ blocks: [{ type: 'input', label: { type: 'plain_text', text: 'Reason' }, element: { type: 'plain_text_input', action_id: 'r' } }] }), '/view'],
    ['a bad block inside', modal({ blocks: [section('x'.repeat(3001))] }), '/view/blocks/0/text/text'],
    ['a home tab sent as a modal', { type: 'home', blocks: [] }, '/view/type'],
    ['over 250 KB', modal({ blocks: Array.from({ length: 100 }, () => section('é'.repeat(3000))) }), '/view'],
  ])('validateView refuses %s with invalid_arguments', (_name, view, pointer) => {
    expect(validateView(view)).toMatchObject({ error: 'invalid_arguments', pointer });
  });

  test('validateHome refuses a modal and more than 100 blocks', () => {
    expect(validateHome(modal())?.error).toBe('invalid_arguments');
    expect(validateHome({ type: 'home', blocks: Array.from({ length: 101 }, () => ({ type: 'divider' })) })?.pointer).toBe('/view/blocks');
  });
});

describe('replyText', () => {
  test('a reply longer than one message holds says how much it left out, and Slack accepts it', async () => {
    const { replyText } = await import('../../../blocks/admin-replies.js');
    const lines = Array.from({ length: 2_000 }, (_, i) => `freeze \`env-${i}\` until tomorrow: incident ${i}`);
    const reply = replyText(lines.join('\n'));
    expect(validateMessage(reply)).toBeUndefined();
    const last = reply.blocks!.at(-1) as { type: string; elements: Array<{ text: string }> };
    expect(last.type).toBe('context');
    expect(last.elements[0]!.text).toMatch(/^…and \d+ more lines \(\d+ characters\) not shown here\.$/);
    expect(reply.blocks!.filter((b) => b.type === 'section').length).toBeGreaterThan(1);
    // A short reply is untouched.
    expect(replyText('one line').blocks).toHaveLength(1);
  });
});

describe('person', () => {
  test('an actor as the audit names it (slack:U…) is a mention; other actors stay text', async () => {
    const { person } = await import('../../../blocks/format.js');
    expect(person('slack:U0439ZZZZG4')).toBe('<@U0439ZZZZG4>');
    expect(person('U0439ZZZZG4')).toBe('<@U0439ZZZZG4>');
    expect(person('agent:deploy-bot')).toBe('agent:deploy-bot');
    expect(person('slack:<!channel>')).not.toContain('<!channel>');
  });
});
