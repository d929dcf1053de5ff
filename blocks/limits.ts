/**
 * Block Kit limits and the validators that enforce them, in one import for renderers, their
 * tests and the Slack Web API stand-in (`src/sandbox/slack-web-api.ts`).
 */
export { BLOCK_KIT, BUDGET } from './kit-limits.js';
export { blockTextLength, utf8Length, validateHome, validateMessage, validateView, type SlackRejection } from './validate.js';
