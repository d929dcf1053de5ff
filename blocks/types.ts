/**
 * The subset of Block Kit that Countersign renders, typed closely enough that a renderer cannot
 * build a shape Slack would refuse (for example a `disabled` button, which does not exist).
 */

export interface PlainText {
  type: 'plain_text';
  text: string;
  emoji?: boolean;
}

export interface Mrkdwn {
  type: 'mrkdwn';
  text: string;
  verbatim?: boolean;
}

export type TextObject = PlainText | Mrkdwn;

export interface ConfirmDialog {
  title: PlainText;
  text: TextObject;
  confirm: PlainText;
  deny: PlainText;
  style?: 'primary' | 'danger';
}

export interface Button {
  type: 'button';
  text: PlainText;
  action_id: string;
  value?: string;
  url?: string;
  style?: 'primary' | 'danger';
  confirm?: ConfirmDialog;
  accessibility_label?: string;
}

export interface PlainTextInput {
  type: 'plain_text_input';
  action_id: string;
  placeholder?: PlainText;
  initial_value?: string;
  multiline?: boolean;
  min_length?: number;
  max_length?: number;
  focus_on_load?: boolean;
}

export interface RichTextText {
  type: 'text';
  text: string;
  style?: { bold?: boolean; italic?: boolean; strike?: boolean; code?: boolean };
}

export interface RichTextSection {
  type: 'rich_text_section';
  elements: RichTextText[];
}

export interface RichTextPreformatted {
  type: 'rich_text_preformatted';
  elements: RichTextText[];
  border?: 0 | 1;
}

export interface HeaderBlock {
  type: 'header';
  block_id?: string;
  text: PlainText;
}

export interface SectionBlock {
  type: 'section';
  block_id?: string;
  text?: TextObject;
  fields?: TextObject[];
  accessory?: Button;
}

export interface DividerBlock {
  type: 'divider';
  block_id?: string;
}

export interface ContextBlock {
  type: 'context';
  block_id?: string;
  elements: TextObject[];
}

export interface ActionsBlock {
  type: 'actions';
  block_id?: string;
  elements: Button[];
}

export interface RichTextBlock {
  type: 'rich_text';
  block_id?: string;
  elements: (RichTextSection | RichTextPreformatted)[];
}

export interface InputBlock {
  type: 'input';
  block_id?: string;
  label: PlainText;
  element: PlainTextInput;
  hint?: PlainText;
  optional?: boolean;
}

export type Block = HeaderBlock | SectionBlock | DividerBlock | ContextBlock | ActionsBlock | RichTextBlock | InputBlock;

/** A message body: the fallback `text` (notifications, screen readers) and its blocks. */
export interface Message {
  text: string;
  blocks: Block[];
}

/** A modal view (views.open / views.update / views.push). */
export interface ModalView {
  type: 'modal';
  title: PlainText;
  blocks: Block[];
  close?: PlainText;
  submit?: PlainText;
  callback_id?: string;
  private_metadata?: string;
  external_id?: string;
  clear_on_close?: boolean;
  notify_on_close?: boolean;
}

/** An App Home tab (views.publish). */
export interface HomeView {
  type: 'home';
  blocks: Block[];
  callback_id?: string;
  private_metadata?: string;
  external_id?: string;
}

export type View = ModalView | HomeView;
