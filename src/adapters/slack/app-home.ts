import type { App } from '@slack/bolt';
import { HOME_PENDING_CAP, HOME_REQUESTS_CAP, renderHome } from '../../../blocks/home.js';
import { buildReport } from '../../app/admin/report.js';
import type { OverridesPort } from '../../app/admin/admin-context.js';
import type { GateChange, GateObserver } from '../../app/ports.js';
import type { Gate } from '../../core/gate.js';
import type { Logger } from 'pino';
import type { GateStore } from '../redis/gate-store.js';
import type { HomeIndex } from '../admin/home-index.js';
import type { GateStats } from '../metrics/gate-stats.js';
import type { ReviewerDirectory } from './reviewer-directory.js';
import { SlackRateLimited, type SlackWrites } from './slack-writes.js';

export interface AppHomeDeps {
  store: GateStore;
  home: HomeIndex;
  stats: GateStats;
  directory: ReviewerDirectory;
  writes: SlackWrites;
  overrides: OverridesPort;
  now: () => number;
  logger: Logger;
  /** Days of team figures. */
  days?: number;
  /**
   * Shortest time between two refreshes of one person's Home after their votes (default 2 s).
   * A reviewer clicking through a queue gets one refresh at once and one more at the end.
   */
  refreshEveryMs?: number;
}

const DEFAULT_REFRESH_EVERY_MS = 2_000;

/**
 * App Home: published when a person opens the tab, and again after they vote (so a decided
 * gate leaves their list). The buttons are the change record's own, so the same handlers serve
 * them.
 */
export class AppHome implements GateObserver {
  /** People whose Home is being refreshed or cooling down; `again` when a vote came in meanwhile. */
  private readonly refreshing = new Map<string, { again: boolean }>();
  private closed = false;

  constructor(private readonly deps: AppHomeDeps) {}

  register(app: App): void {
    app.event('app_home_opened', async ({ event }) => {
      // Through the same pacing as refreshes after votes: opening the tab again and again
      // (Slack sends this event each time) publishes at most once per interval.
      if (event.tab === 'home') this.refresh(event.user);
    });
  }

  gateChanged(change: GateChange): void {
    if (!['vote', 'approve', 'deny'].includes(change.event) || !change.actor.startsWith('slack:')) return;
    // In the background: the voter's click is answered already, Home follows.
    this.refresh(change.actor.slice('slack:'.length));
  }

  /**
   * Refreshes a person's Home now, or, when it was refreshed less than `refreshEveryMs` ago,
   * once when that time is up. Every refresh reads the pending queue and publishes a whole view
   * (views.publish is Tier 4), so a burst of votes costs two refreshes, not one per vote.
   */
  refresh(user: string): void {
    const waiting = this.refreshing.get(user);
    if (waiting) {
      waiting.again = true;
      return;
    }
    if (this.closed) return;
    const state = { again: false };
    this.refreshing.set(user, state);
    void (async () => {
      do {
        state.again = false;
        let pause = this.deps.refreshEveryMs ?? DEFAULT_REFRESH_EVERY_MS;
        await this.publish(user).catch((err: unknown) => {
          // Rate limited: published again once Slack allows, not dropped.
          if (err instanceof SlackRateLimited) {
            state.again = true;
            pause = Math.max(pause, err.retryAfterSeconds * 1000);
          }
          this.deps.logger.warn({ err, user }, 'could not publish App Home');
        });
        await new Promise<void>((resolve) => setTimeout(resolve, pause).unref());
      } while (state.again && !this.closed);
      this.refreshing.delete(user);
    })();
  }

  /** Stops scheduling refreshes (one already running finishes). */
  close(): void {
    this.closed = true;
  }

  /** Renders and publishes one person's Home tab. */
  async publish(user: string): Promise<void> {
    const { store, home, stats, directory, writes, now } = this.deps;
    const at = now();
    const email = await directory.emailOf(user);
    const [pending, requestIds, window] = await Promise.all([
      home.pending({ reviewer: user, limit: HOME_PENDING_CAP }),
      email ? home.recentRequests(email, HOME_REQUESTS_CAP) : Promise.resolve([] as string[]),
      stats.window(this.deps.days ?? 7, at),
    ]);
    const read = async (ids: string[]) => (await Promise.all(ids.map((id) => store.read(id)))).filter((g): g is Gate => g !== undefined);
    const [pendingGates, requests] = await Promise.all([read(pending.ids), read(requestIds)]);
    const report = buildReport(window);
    const mine = window.reviewers.get(user);
    const o = this.deps.overrides.snapshot();
    const notices = [
      ...o.freezes.map((f) => `\`${f.environments.join(', ')}\` is frozen until <!date^${Math.floor(Date.parse(f.to) / 1000)}^{date_short_pretty} {time}|${f.to}>: ${f.reason.replace(/[<>&]/g, '').slice(0, 200)}`),
      ...(o.mode === 'observe' ? ['Countersign runs in *observe* mode: actions are let through and what enforce mode would do is recorded.'] : []),
    ];
    const view = renderHome({
      now: at,
      pending: pendingGates,
      pendingTotal: pending.total,
      requests,
      notices,
      figures: {
        days: report.days,
        requests: report.totals.requests,
        reviewShare: report.totals.reviewShare,
        ...(report.totals.approvalRate !== undefined ? { approvalRate: report.totals.approvalRate } : {}),
        ...(report.totals.medianLatencyMs !== undefined ? { medianLatencyMs: report.totals.medianLatencyMs } : {}),
        denied: report.totals.denied,
        expired: report.totals.expired,
        reviewExpired: report.totals.reviewExpired,
        drift: report.totals.drift,
        breakGlass: report.totals.breakGlass,
        myApprovals: mine?.approve ?? 0,
        myDenials: mine?.deny ?? 0,
      },
    });
    await writes.publishHome(user, view);
  }
}
