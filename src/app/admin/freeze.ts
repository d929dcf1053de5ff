import { CountersignError, ErrorCode } from '../../core/errors.js';
import { compileGlobs } from '../../core/policy/patterns.js';
import type { EnvironmentClass } from '../../core/policy/schema.js';
import type { FreezeWindow } from '../../core/policy/types.js';
import { recordAppliedAdminAction, type AdminActor, type AdminContext } from './admin-context.js';

/** Longest runtime freeze; anything longer belongs in policies/freezes.yaml, reviewed in git. */
export const MAX_FREEZE_MS = 30 * 86_400_000;
const MIN_FREEZE_MS = 60_000;

/** `90m`, `2h`, `1d`, `1h30m` → ms; undefined when not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^(?:(\d{1,3})d)?(?:(\d{1,4})h)?(?:(\d{1,5})m)?$/.exec(text.trim().toLowerCase());
  if (!m || text.trim() === '') return undefined;
  const [d, h, min] = [m[1], m[2], m[3]].map((v) => Number(v ?? 0));
  const ms = ((d! * 24 + h!) * 60 + min!) * 60_000;
  return ms > 0 ? ms : undefined;
}

/** Environment names and classes as freezes match them (globs allowed); names are lowercase. */
const ENVIRONMENT = /^[a-z0-9*?][a-z0-9_.*?-]{0,63}$/;

/**
 * True when a freeze of `environment` (a name or a glob) reaches something the catalog knows: a
 * class id or a name in a class's `match`, or a name one of those globs covers. A typo such as
 * `stagign` reaches nothing, and a freeze of it would be reported as set while freezing nothing.
 * A policy set without environment classes gives nothing to check against: every name passes.
 */
export function reachesKnownEnvironment(environment: string, classes: readonly EnvironmentClass[]): boolean {
  if (classes.length === 0) return true;
  const freeze = compileGlobs([environment]);
  if (classes.some((c) => freeze.test(c.id) || c.match.some((m) => m === environment || freeze.test(m)))) return true;
  return classes.some((c) => compileGlobs(c.match).test(environment));
}

/**
 * Freezes an environment (or environment class) for a while: every action there that is not
 * read-only goes to review by the default reviewer set, whatever the rules say.
 */
export async function freezeEnvironment(admin: AdminContext, input: { environment: string; durationMs: number; reason: string; actor: AdminActor }): Promise<FreezeWindow> {
  // Environment names are lowercase identifiers: `Staging` can only mean `staging` (matched as
  // typed, it would freeze nothing while the reply said "frozen").
  const environment = input.environment.toLowerCase();
  if (!ENVIRONMENT.test(environment)) {
    throw new CountersignError(ErrorCode.InvalidRequest, `"${input.environment.slice(0, 64)}" is not an environment name`);
  }
  const classes = admin.policy().document.environments;
  if (!reachesKnownEnvironment(environment, classes)) {
    throw new CountersignError(
      ErrorCode.InvalidRequest,
      `"${environment}" is neither an environment class (${classes.map((c) => c.id).join(', ') || 'none defined'}) nor a name one covers; nothing would be frozen. Freeze a class or a covered name, or add the name to a class in policies/catalog.yaml`,
    );
  }
  if (input.durationMs < MIN_FREEZE_MS || input.durationMs > MAX_FREEZE_MS) {
    throw new CountersignError(ErrorCode.InvalidRequest, 'a runtime freeze lasts between 1 minute and 30 days; longer freezes belong in policies/freezes.yaml');
  }
  const reason = input.reason.trim();
  if (reason.length === 0) throw new CountersignError(ErrorCode.InvalidRequest, 'a freeze needs a reason');
  const now = admin.app.now();
  const slug = environment.replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'env';
  const freeze: FreezeWindow = {
    id: `admin-${slug}-${now.toString(36)}`.slice(0, 120),
    environments: [environment],
    from: new Date(now).toISOString(),
    to: new Date(now + input.durationMs).toISOString(),
    outcome: 'review',
    reason: reason.slice(0, 500),
    exemptLabels: ['read-only'],
  };
  await admin.overrides.addFreeze(freeze);
  admin.app.logger.warn({ actor: `slack:${input.actor.slackId}`, event: 'freeze', freezeId: freeze.id, environment, until: freeze.to }, 'environment frozen');
  await recordAppliedAdminAction(admin, input.actor, 'freeze', { environment, durationMs: input.durationMs, reason }, `frozen until ${freeze.to} (${freeze.id})`);
  return freeze;
}

/** Lifts runtime freezes of an environment (or all of them). Freezes in the policy files stay. */
export async function unfreezeEnvironment(admin: AdminContext, input: { environment: string | 'all'; actor: AdminActor }): Promise<FreezeWindow[]> {
  const environment = input.environment === 'all' ? 'all' : input.environment.toLowerCase();
  const lifted = await admin.overrides.removeFreezes(environment);
  admin.app.logger.warn({ actor: `slack:${input.actor.slackId}`, event: 'unfreeze', environment, lifted: lifted.map((f) => f.id) }, 'freeze lifted');
  await recordAppliedAdminAction(admin, input.actor, 'unfreeze', { environment }, lifted.length === 0 ? 'nothing to lift' : `lifted ${lifted.map((f) => f.id).join(', ')}`);
  return lifted;
}

/** The runtime freezes whose environment patterns cover this environment (e.g. `stag*` for `staging`). */
export function runtimeFreezesCovering(admin: AdminContext, environment: string): FreezeWindow[] {
  const name = environment.toLowerCase();
  return admin.overrides.snapshot().freezes.filter((f) => compileGlobs(f.environments).test(name));
}
