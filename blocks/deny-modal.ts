import type { Gate } from '../src/core/gate.js';
import { shown, shownCode } from './change-record-parts.js';
import { mrkdwn, plain } from './format.js';
import { CALLBACK_DENY, DENY_REASON_ACTION, DENY_REASON_BLOCK } from './ids.js';
import { BLOCK_KIT } from './kit-limits.js';
import type { ModalView } from './types.js';

export { CALLBACK_DENY, DENY_REASON_ACTION, DENY_REASON_BLOCK } from './ids.js';

/** Longest deny reason: it reaches the agent, which stores it as medium text. */
export const DENY_REASON_MAX = 2_000;

/** What the deny modal keeps in `private_metadata`. */
export interface DenyModalMetadata {
  gateId: string;
}

/**
 * The modal a reviewer fills in to deny: it names the exact request and asks for a reason
 * (required, multiline), which is recorded on the gate and sent to the agent.
 */
export function renderDenyModal(gate: Gate): ModalView {
  const req = gate.request;
  const metadata: DenyModalMetadata = { gateId: gate.id };
  return {
    type: 'modal',
    callback_id: CALLBACK_DENY,
    title: plain('Deny request', BLOCK_KIT.viewTitle),
    submit: plain('Deny', BLOCK_KIT.viewTitle),
    close: plain('Cancel', BLOCK_KIT.viewTitle),
    private_metadata: JSON.stringify(metadata),
    blocks: [
      {
        type: 'section',
        text: mrkdwn(`You are denying ${shownCode(req.action, 140)} in ${shownCode(req.environment, 80)}:\n*${shown(req.summary, 300)}*\nOne deny ends the review; the agent receives your reason.`, BLOCK_KIT.text),
      },
      {
        type: 'input',
        block_id: DENY_REASON_BLOCK,
        label: plain('Reason', BLOCK_KIT.label),
        hint: plain('What is wrong, or what the agent should change before asking again.', BLOCK_KIT.label),
        element: {
          type: 'plain_text_input',
          action_id: DENY_REASON_ACTION,
          multiline: true,
          max_length: DENY_REASON_MAX,
          focus_on_load: true,
          placeholder: plain('e.g. not during the freeze; re-plan without the replica', BLOCK_KIT.placeholder),
        },
      },
    ],
  };
}

/** Reads the deny modal's `private_metadata`; `undefined` when it is not ours. */
export function parseDenyModalMetadata(raw: string): DenyModalMetadata | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value !== 'object' || value === null) return undefined;
    const { gateId } = value as Record<string, unknown>;
    return typeof gateId === 'string' && gateId !== '' ? { gateId } : undefined;
  } catch {
    return undefined;
  }
}
