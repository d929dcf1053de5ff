/**
 * Slack's Block Kit limits (../shared/SLACK.md), as the renderers and the Slack Web API
 * stand-in both use them. Lengths are JavaScript string lengths (UTF-16 code units), which is
 * never less than what Slack counts, so staying under them here stays under them at Slack.
 */
export const BLOCK_KIT = {
  /** Blocks in one message. */
  messageBlocks: 50,
  /** Blocks in one modal or App Home view. */
  viewBlocks: 100,
  /** A text object, or a section's `text`. */
  text: 3_000,
  /** Items in a section's `fields`, and the length of each. */
  sectionFields: 10,
  sectionFieldText: 2_000,
  /** Header text (plain_text only). */
  headerText: 150,
  blockId: 255,
  actionId: 255,
  buttonText: 75,
  buttonValue: 2_000,
  buttonUrl: 3_000,
  accessibilityLabel: 75,
  actionsElements: 25,
  contextElements: 10,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  /** Input label and hint, image alt text and title. */
  label: 2_000,
  placeholder: 150,
  selectOptions: 100,
  optionText: 75,
  optionValue: 150,
  plainTextInput: 3_000,
  /** Modal title, submit and close labels. */
  viewTitle: 24,
  privateMetadata: 3_000,
  callbackId: 255,
  externalId: 255,
  /** A whole view as JSON, in bytes: Slack refuses larger views. */
  viewBytes: 250 * 1024,
  /** All block text of one message together: above it Slack answers `msg_blocks_too_long`. */
  messageBlockText: 12_000,
  /** The top-level `text` of a message. */
  messageText: 40_000,
} as const;

/**
 * Margins the renderers keep below the hard limits, so that a later edit (one more vote line,
 * a note) cannot push a message that fitted yesterday over the edge.
 */
export const BUDGET = {
  /** Total block text the change record aims for (hard cap {@link BLOCK_KIT.messageBlockText}). */
  messageBlockText: 11_000,
  /** Longest preformatted chunk written into one text element. */
  preformattedChunk: 2_500,
  /** JSON bytes one evidence modal page may take (hard cap {@link BLOCK_KIT.viewBytes}). */
  viewBytes: 120 * 1024,
} as const;
