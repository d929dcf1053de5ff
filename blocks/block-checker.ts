import { BLOCK_KIT } from './kit-limits.js';

/**
 * Walks Block Kit JSON the way Slack's validator does: known block and element types only,
 * no unknown fields, every length and count limit, unique block and action ids. It collects
 * problems as JSON pointers and counts the text a message would carry.
 */

type Obj = Record<string, unknown>;
export interface Problem {
  pointer: string;
  message: string;
}

const TEXT_TYPES = ['plain_text', 'mrkdwn'];
const STYLES = ['primary', 'danger'];
const SELECTS = ['static_select', 'multi_static_select', 'users_select', 'multi_users_select', 'conversations_select', 'multi_conversations_select', 'channels_select', 'multi_channels_select', 'external_select', 'multi_external_select'];
const PICKERS = ['datepicker', 'timepicker', 'datetimepicker', 'checkboxes', 'radio_buttons', 'overflow'];
const INPUTS = ['plain_text_input', 'email_text_input', 'url_text_input', 'number_input', 'rich_text_input'];
const ACTION_ELEMENTS = ['button', ...SELECTS, ...PICKERS];
const ACCESSORY_ELEMENTS = ['image', ...ACTION_ELEMENTS];
const INPUT_ELEMENTS = [...INPUTS, ...SELECTS, ...PICKERS.filter((t) => t !== 'overflow')];
const RICH_TEXT_CONTAINERS = ['rich_text_section', 'rich_text_preformatted', 'rich_text_quote', 'rich_text_list'];
const RICH_TEXT_LEAVES = ['text', 'link', 'emoji', 'user', 'usergroup', 'channel', 'team', 'broadcast', 'date', 'color'];

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Walks blocks, collecting problems and the total text a message would carry. */
export class Checker {
  readonly problems: Problem[] = [];
  blockText = 0;
  private readonly blockIds = new Set<string>();

  fail(pointer: string, message: string): void {
    if (this.problems.length < 20) this.problems.push({ pointer, message });
  }

  object(v: unknown, p: string): v is Obj {
    if (isObj(v)) return true;
    this.fail(p, 'must provide an object');
    return false;
  }

  fields(o: Obj, p: string, allowed: readonly string[]): void {
    for (const key of Object.keys(o)) if (!allowed.includes(key)) this.fail(`${p}/${key}`, `unknown field: ${key}`);
  }

  string(o: Obj, key: string, p: string, max: number, required = false, min = 0): string | undefined {
    const v = o[key];
    if (v === undefined) {
      if (required) this.fail(p, `missing required field: ${key}`);
      return undefined;
    }
    if (typeof v !== 'string') {
      this.fail(`${p}/${key}`, 'must be a string');
      return undefined;
    }
    if (v.length > max) this.fail(`${p}/${key}`, `must be less than ${max + 1} characters`);
    if (v.length < min) this.fail(`${p}/${key}`, `must be more than ${min - 1} characters`);
    return v;
  }

  oneOf(o: Obj, key: string, p: string, values: readonly string[], required = false): void {
    const v = o[key];
    if (v === undefined && !required) return;
    if (typeof v !== 'string' || !values.includes(v)) this.fail(`${p}/${key}`, 'must be a valid enum value');
  }

  array(o: Obj, key: string, p: string, max: number, required = true, min = 1): unknown[] | undefined {
    const v = o[key];
    if (v === undefined) {
      if (required) this.fail(p, `missing required field: ${key}`);
      return undefined;
    }
    if (!Array.isArray(v)) {
      this.fail(`${p}/${key}`, 'must provide an array');
      return undefined;
    }
    if (v.length > max) this.fail(`${p}/${key}`, `no more than ${max} items allowed`);
    if (v.length < min) this.fail(`${p}/${key}`, `must provide at least ${min} items`);
    return v;
  }

  /** A text object at `o[key]`. Counts toward the message total. */
  text(o: Obj, key: string, p: string, max: number, opts: { plainOnly?: boolean; required?: boolean } = {}): void {
    const v = o[key];
    if (v === undefined) {
      if (opts.required) this.fail(p, `missing required field: ${key}`);
      return;
    }
    this.textObject(v, `${p}/${key}`, max, opts.plainOnly ?? false);
  }

  textObject(v: unknown, p: string, max: number, plainOnly: boolean): void {
    if (!this.object(v, p)) return;
    this.oneOf(v, 'type', p, plainOnly ? ['plain_text'] : TEXT_TYPES, true);
    this.fields(v, p, v.type === 'mrkdwn' ? ['type', 'text', 'verbatim'] : ['type', 'text', 'emoji']);
    const text = this.string(v, 'text', p, max, true, 1);
    if (text !== undefined) this.blockText += text.length;
  }

  blockId(o: Obj, p: string): void {
    const id = this.string(o, 'block_id', p, BLOCK_KIT.blockId);
    if (id === undefined) return;
    if (this.blockIds.has(id)) this.fail(`${p}/block_id`, `duplicate block_id: ${id}`);
    this.blockIds.add(id);
  }

  confirm(v: unknown, p: string): void {
    if (!this.object(v, p)) return;
    this.fields(v, p, ['title', 'text', 'confirm', 'deny', 'style']);
    this.text(v, 'title', p, BLOCK_KIT.confirmTitle, { plainOnly: true, required: true });
    this.text(v, 'text', p, BLOCK_KIT.confirmText, { required: true });
    this.text(v, 'confirm', p, BLOCK_KIT.confirmButton, { plainOnly: true, required: true });
    this.text(v, 'deny', p, BLOCK_KIT.confirmButton, { plainOnly: true, required: true });
    this.oneOf(v, 'style', p, STYLES);
  }

  element(v: unknown, p: string, allowed: readonly string[], actionIds: Set<string>): void {
    if (!this.object(v, p)) return;
    const type = v.type;
    if (typeof type !== 'string' || !allowed.includes(type)) {
      this.fail(`${p}/type`, `unsupported type: ${String(type)}`);
      return;
    }
    if (type === 'image') {
      this.fields(v, p, ['type', 'image_url', 'slack_file', 'alt_text']);
      this.string(v, 'alt_text', p, BLOCK_KIT.label, true, 1);
      return;
    }
    const actionId = this.string(v, 'action_id', p, BLOCK_KIT.actionId, type === 'button' ? false : !SELECTS.includes(type));
    if (actionId !== undefined) {
      if (actionIds.has(actionId)) this.fail(`${p}/action_id`, `duplicate action_id: ${actionId}`);
      actionIds.add(actionId);
    }
    if (v.confirm !== undefined) this.confirm(v.confirm, `${p}/confirm`);
    if (type === 'button') {
      this.fields(v, p, ['type', 'text', 'action_id', 'value', 'url', 'style', 'confirm', 'accessibility_label']);
      this.text(v, 'text', p, BLOCK_KIT.buttonText, { plainOnly: true, required: true });
      this.string(v, 'value', p, BLOCK_KIT.buttonValue);
      this.string(v, 'url', p, BLOCK_KIT.buttonUrl);
      this.string(v, 'accessibility_label', p, BLOCK_KIT.accessibilityLabel);
      this.oneOf(v, 'style', p, STYLES);
    } else if (type === 'plain_text_input') {
      this.fields(v, p, ['type', 'action_id', 'placeholder', 'initial_value', 'multiline', 'min_length', 'max_length', 'dispatch_action_config', 'focus_on_load']);
      this.text(v, 'placeholder', p, BLOCK_KIT.placeholder, { plainOnly: true });
      this.string(v, 'initial_value', p, BLOCK_KIT.plainTextInput);
      for (const key of ['min_length', 'max_length'] as const) {
        const n = v[key];
        if (n !== undefined && (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > BLOCK_KIT.plainTextInput)) this.fail(`${p}/${key}`, `must be an integer between 0 and ${BLOCK_KIT.plainTextInput}`);
      }
    } else if (SELECTS.includes(type) || type === 'overflow' || type === 'checkboxes' || type === 'radio_buttons') {
      this.text(v, 'placeholder', p, BLOCK_KIT.placeholder, { plainOnly: true });
      const options = v.options === undefined ? undefined : this.array(v, 'options', p, BLOCK_KIT.selectOptions);
      options?.forEach((option, i) => this.option(option, `${p}/options/${i}`));
    }
  }

  option(v: unknown, p: string): void {
    if (!this.object(v, p)) return;
    this.fields(v, p, ['text', 'value', 'description', 'url']);
    this.text(v, 'text', p, BLOCK_KIT.optionText, { required: true });
    this.string(v, 'value', p, BLOCK_KIT.optionValue, true, 1);
    this.text(v, 'description', p, BLOCK_KIT.optionText);
  }

  richText(v: unknown, p: string): void {
    if (!this.object(v, p)) return;
    const type = v.type;
    if (typeof type !== 'string' || !RICH_TEXT_CONTAINERS.includes(type)) {
      this.fail(`${p}/type`, `unsupported type: ${String(type)}`);
      return;
    }
    this.fields(v, p, ['type', 'elements', 'style', 'indent', 'offset', 'border', 'language']);
    const elements = this.array(v, 'elements', p, Number.MAX_SAFE_INTEGER, true, 0) ?? [];
    if (type === 'rich_text_list') {
      this.oneOf(v, 'style', p, ['bullet', 'ordered'], true);
      elements.forEach((e, i) => this.richText(e, `${p}/elements/${i}`));
      return;
    }
    elements.forEach((e, i) => this.richLeaf(e, `${p}/elements/${i}`, type === 'rich_text_preformatted' ? ['text', 'link'] : RICH_TEXT_LEAVES));
  }

  richLeaf(v: unknown, p: string, allowed: readonly string[]): void {
    if (!this.object(v, p)) return;
    if (typeof v.type !== 'string' || !allowed.includes(v.type)) {
      this.fail(`${p}/type`, `unsupported type: ${String(v.type)}`);
      return;
    }
    if (v.type === 'text') {
      const text = this.string(v, 'text', p, Number.MAX_SAFE_INTEGER, true, 1);
      if (text !== undefined) this.blockText += text.length;
    } else if (v.type === 'link') {
      this.string(v, 'url', p, BLOCK_KIT.buttonUrl, true, 1);
      const text = this.string(v, 'text', p, Number.MAX_SAFE_INTEGER);
      if (text !== undefined) this.blockText += text.length;
    }
  }

  block(v: unknown, p: string): void {
    if (!this.object(v, p)) return;
    this.blockId(v, p);
    const actionIds = new Set<string>();
    switch (v.type) {
      case 'header':
        this.fields(v, p, ['type', 'block_id', 'text']);
        this.text(v, 'text', p, BLOCK_KIT.headerText, { plainOnly: true, required: true });
        return;
      case 'section': {
        this.fields(v, p, ['type', 'block_id', 'text', 'fields', 'accessory', 'expand']);
        if (v.text === undefined && v.fields === undefined) this.fail(p, 'must provide text or fields');
        this.text(v, 'text', p, BLOCK_KIT.text);
        const fields = this.array(v, 'fields', p, BLOCK_KIT.sectionFields, false);
        fields?.forEach((f, i) => this.textObject(f, `${p}/fields/${i}`, BLOCK_KIT.sectionFieldText, false));
        if (v.accessory !== undefined) this.element(v.accessory, `${p}/accessory`, ACCESSORY_ELEMENTS, actionIds);
        return;
      }
      case 'divider':
        this.fields(v, p, ['type', 'block_id']);
        return;
      case 'context': {
        this.fields(v, p, ['type', 'block_id', 'elements']);
        const elements = this.array(v, 'elements', p, BLOCK_KIT.contextElements) ?? [];
        elements.forEach((e, i) => {
          if (isObj(e) && e.type === 'image') this.element(e, `${p}/elements/${i}`, ['image'], actionIds);
          else this.textObject(e, `${p}/elements/${i}`, BLOCK_KIT.text, false);
        });
        return;
      }
      case 'actions': {
        this.fields(v, p, ['type', 'block_id', 'elements']);
        const elements = this.array(v, 'elements', p, BLOCK_KIT.actionsElements) ?? [];
        elements.forEach((e, i) => this.element(e, `${p}/elements/${i}`, ACTION_ELEMENTS, actionIds));
        return;
      }
      case 'rich_text': {
        this.fields(v, p, ['type', 'block_id', 'elements']);
        const elements = this.array(v, 'elements', p, Number.MAX_SAFE_INTEGER) ?? [];
        elements.forEach((e, i) => this.richText(e, `${p}/elements/${i}`));
        return;
      }
      case 'input':
        this.fields(v, p, ['type', 'block_id', 'label', 'element', 'hint', 'optional', 'dispatch_action']);
        this.text(v, 'label', p, BLOCK_KIT.label, { plainOnly: true, required: true });
        this.text(v, 'hint', p, BLOCK_KIT.label, { plainOnly: true });
        if (v.element === undefined) this.fail(p, 'missing required field: element');
        else this.element(v.element, `${p}/element`, INPUT_ELEMENTS, actionIds);
        return;
      case 'image':
        this.fields(v, p, ['type', 'block_id', 'image_url', 'slack_file', 'alt_text', 'title']);
        this.string(v, 'alt_text', p, BLOCK_KIT.label, true, 1);
        this.text(v, 'title', p, BLOCK_KIT.label, { plainOnly: true });
        if (v.image_url === undefined && v.slack_file === undefined) this.fail(p, 'missing required field: image_url');
        return;
      default:
        this.fail(`${p}/type`, `unsupported type: ${String(v.type)}`);
    }
  }

  blocks(v: unknown, p: string, max: number): void {
    if (!Array.isArray(v)) {
      this.fail(p, 'must provide an array');
      return;
    }
    if (v.length > max) this.fail(p, `no more than ${max} items allowed`);
    v.forEach((b, i) => this.block(b, `${p}/${i}`));
  }
}
