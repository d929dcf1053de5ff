import type { RuleMode } from '../../core/decision.js';
import { CountersignError, ErrorCode } from '../../core/errors.js';
import { recordAppliedAdminAction, type AdminActor, type AdminContext } from './admin-context.js';

/** Rules that exist without being written in the files (see src/core/policy/evaluate.ts). */
export const BUILT_IN_RULES = ['unknown-action', 'no-matching-rule'] as const;

/**
 * Switches the whole gate, or one rule, between observe and enforce, for every process; `clear`
 * drops the runtime switch so that the policy files decide again (a runtime mode otherwise
 * outlives every later change of `defaults.mode` or a rule's `mode` in git). The next decision
 * uses it; gates already decided keep their decision.
 */
export async function setMode(admin: AdminContext, input: { mode: RuleMode | 'clear'; rule?: string; actor: AdminActor }): Promise<void> {
  if (input.rule !== undefined && input.mode !== 'clear') {
    const known = new Set<string>([...admin.policy().rules.map((r) => r.id), ...BUILT_IN_RULES]);
    if (!known.has(input.rule)) {
      throw new CountersignError(ErrorCode.InvalidRequest, `no rule "${input.rule.slice(0, 80)}"; rules: ${[...known].join(', ')}`);
    }
  }
  await admin.overrides.setMode(input.mode === 'clear' ? undefined : input.mode, input.rule);
  admin.app.logger.warn({ actor: `slack:${input.actor.slackId}`, event: 'mode', mode: input.mode, rule: input.rule ?? null }, `mode set to ${input.mode}`);
  await recordAppliedAdminAction(admin, input.actor, 'mode', { mode: input.mode, ...(input.rule ? { rule: input.rule } : {}) }, `${input.rule ?? 'all rules'} → ${input.mode === 'clear' ? 'as the policy files say' : input.mode}`);
}
