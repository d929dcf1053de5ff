/**
 * Every id that Slack sends back to the app (action ids, callback ids, block ids). The Bolt
 * handlers match on these constants, so a renderer and its handler cannot drift apart.
 */

/** Change record: approve button (value = gate id). */
export const ACTION_APPROVE = 'gate_approve';
/** Change record: deny button (value = gate id); opens the deny modal. */
export const ACTION_DENY = 'gate_deny';
/** Change record: view-evidence button (value = gate id); opens the evidence modal. */
export const ACTION_VIEW_EVIDENCE = 'gate_view_evidence';
/** Block id of the change record's buttons. */
export const BLOCK_GATE_ACTIONS = 'gate_actions';

/** Evidence modal: previous / next page buttons (value = the page to show, 0-based). */
export const ACTION_EVIDENCE_PREVIOUS = 'gate_evidence_previous';
export const ACTION_EVIDENCE_NEXT = 'gate_evidence_next';
/** Block id of the evidence modal's page buttons. */
export const BLOCK_EVIDENCE_NAV = 'evidence_nav';
/** callback_id of the evidence modal. */
export const CALLBACK_EVIDENCE = 'gate_evidence_modal';

/** callback_id of the deny modal (view_submission). */
export const CALLBACK_DENY = 'gate_deny_modal';
/** Block and action id of the deny reason input: `view.state.values[DENY_REASON_BLOCK][DENY_REASON_ACTION].value`. */
export const DENY_REASON_BLOCK = 'deny_reason';
export const DENY_REASON_ACTION = 'deny_reason_input';
