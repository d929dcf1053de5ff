import type { Logger } from 'pino';
import { renderBreakGlassAnnouncement, renderPostHocReminder, renderReloadFailed } from '../../../blocks/admin-replies.js';
import type { SecurityChannelPort } from '../../app/admin/admin-context.js';
import type { PostHocReviews } from '../admin/post-hoc-reviews.js';
import { POST_HOC_REVIEWERS } from '../admin/post-hoc-reviews.js';
import type { GateStore } from '../redis/gate-store.js';
import type { SlackWrites } from './slack-writes.js';

/** The security channel: break-glass announcements, their reminders, failed policy reloads. */
export class SecurityChannel implements SecurityChannelPort {
  constructor(
    private readonly deps: { writes: SlackWrites; store: GateStore; postHoc: PostHocReviews; channel: () => string; logger: Logger },
  ) {}

  async announceBreakGlass(input: { gateId: string; channel: string; actor: string; justification: string; reviewersNeeded: number }) {
    const gate = await this.deps.store.read(input.gateId);
    if (!gate) return undefined;
    return this.deps.writes.post(input.channel, renderBreakGlassAnnouncement(gate, input));
  }

  async reloadFailed(input: { channel: string; actor: string; problems: string[] }): Promise<void> {
    await this.deps.writes.post(input.channel, renderReloadFailed(input.actor, input.problems));
  }

  /**
   * Reminds about every break-glass whose post-hoc review is overdue: one reminder per due time,
   * whichever process gets there first, in the announcement's thread (or announced anew when the
   * announcement never made it).
   */
  async remindDue(now: number, everyMs: number): Promise<number> {
    const { postHoc, writes, logger } = this.deps;
    let sent = 0;
    for (const gateId of await postHoc.due(now)) {
      if (!(await postHoc.claimReminder(gateId, now, now + everyMs))) continue;
      const record = await postHoc.get(gateId);
      if (!record) continue;
      try {
        if (record.announcement) {
          await writes.post(record.announcement.channel, renderPostHocReminder({ gateId, reviews: record.reviews.length, needed: POST_HOC_REVIEWERS, openedAt: record.openedAt }), {
            threadTs: record.announcement.ts,
          });
        } else {
          const ref = await this.announceBreakGlass({ gateId, channel: this.deps.channel(), actor: record.actor, justification: record.justification, reviewersNeeded: POST_HOC_REVIEWERS });
          if (ref) await postHoc.setAnnouncement(gateId, ref);
        }
        sent += 1;
      } catch (err) {
        // An announcement still missing is tried again in a minute, a reminder at the next round.
        if (!record.announcement) await postHoc.remindAt(gateId, now + 60_000).catch(() => undefined);
        logger.warn({ err, gateId }, 'could not remind about a break-glass review; the next round tries again');
      }
    }
    return sent;
  }
}
