import type { PostHocReviews } from '../../adapters/admin/post-hoc-reviews.js';
import type { RuleMode } from '../../core/decision.js';
import type { FreezeWindow, PolicySet } from '../../core/policy/types.js';
import type { AppContext } from '../ports.js';

/** Who runs an admin action: a Slack user (and their email, when known). */
export interface AdminActor {
  slackId: string;
  email?: string;
}

export const actorName = (a: AdminActor) => `slack:${a.slackId}`;

/** The runtime overrides shared by every process (see src/adapters/admin/overrides-store.ts). */
export interface OverridesPort {
  snapshot(): { mode?: RuleMode; ruleModes: Record<string, RuleMode>; freezes: FreezeWindow[] };
  setMode(mode: RuleMode | undefined, rule?: string): Promise<void>;
  addFreeze(freeze: FreezeWindow): Promise<void>;
  removeFreezes(environment: string | 'all'): Promise<FreezeWindow[]>;
  requestReload(): Promise<void>;
}

/** The deployment-wide audit chain, for actions that belong to no gate. */
export interface AdminAuditPort {
  admin(entry: { event: string; actor: string; at: number; [key: string]: unknown }): Promise<unknown>;
}

/** Where the security team is told (break-glass, failed reloads); undefined when Slack is off. */
export interface SecurityChannelPort {
  announceBreakGlass(input: { gateId: string; channel: string; actor: string; justification: string; reviewersNeeded: number }): Promise<{ channel: string; ts: string } | undefined>;
  reloadFailed(input: { channel: string; actor: string; problems: string[] }): Promise<void>;
}

/** What the admin use cases need. */
export interface AdminContext {
  app: AppContext;
  policy: () => PolicySet;
  reloadPolicy: () => Promise<{ ok: true; version: string } | { ok: false; problems: string[] }>;
  overrides: OverridesPort;
  audit: AdminAuditPort;
  postHoc: PostHocReviews;
  security?: SecurityChannelPort;
  /** How long after a break-glass the first reminder to review it goes out, and then between reminders. */
  postHocRemindEveryMs: number;
}

/** Records an admin action in the deployment chain: actor, command, arguments and result. */
export async function recordAdminAction(admin: AdminContext, actor: AdminActor, command: string, args: Record<string, unknown>, result: string): Promise<void> {
  await admin.audit.admin({ event: 'admin', actor: actorName(actor), at: admin.app.now(), command, args, result });
}

/**
 * The record of an action that has taken effect already: tried three times, and a failure is
 * logged as an error, never thrown (the admin must not be told "nothing was changed" about a
 * change that stands). Gate moves are in the gate's own chain regardless.
 */
export async function recordAppliedAdminAction(admin: AdminContext, actor: AdminActor, command: string, args: Record<string, unknown>, result: string): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await recordAdminAction(admin, actor, command, args, result);
      return;
    } catch (err) {
      if (attempt >= 3) {
        admin.app.logger.error({ err, command, args, actor: actorName(actor), event: 'admin_record_failed' }, `${command} took effect, but its record in the deployment audit chain could not be written`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}
