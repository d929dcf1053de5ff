import { ErrorCode, isCountersignError } from '../../core/errors.js';

/** What a refused or failed `/countersign` command tells the person who ran it. */
export function commandRefusal(err: unknown): string {
  if (!isCountersignError(err)) return ':warning: That did not work because of an internal error; nothing was changed. Please try again.';
  const refusal = err.details.refusal;
  switch (refusal) {
    case 'protected_target':
      return `:no_entry: ${err.message}. Protected targets always need their reviewers.`;
    case 'not_permitted':
      return `:no_entry: ${err.message}: the rule that asked for this review does not allow bypassing it.`;
    case 'own_request':
    case 'agent_owner':
    case 'own_break_glass':
    case 'already_reviewed':
    case 'not_a_reviewer':
    case 'no_break_glass':
    case 'justification':
      return `:no_entry: ${err.message[0]!.toUpperCase()}${err.message.slice(1)}.`;
  }
  switch (err.code) {
    case ErrorCode.GateNotFound:
      return `:grey_question: ${err.message}.`;
    case ErrorCode.GateNotPending:
    case ErrorCode.GateConflict:
    case ErrorCode.DeadlinePassed:
      return `:information_source: ${err.message}.`;
    case ErrorCode.InvalidRequest:
      return `:grey_question: ${err.message}. Try \`/countersign help\`.`;
    case ErrorCode.PolicyInvalid:
      return `:x: ${err.message.split('\n')[0]}`;
    default:
      return `:warning: ${err.message}`;
  }
}
