import type { App } from '@slack/bolt';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ReviewerDirectory } from './reviewer-directory.js';

/**
 * User group membership changes reach every process at once. Who may approve (a reviewer
 * set's groups) and who is an admin (COUNTERSIGN_ADMIN_GROUP) is read from Slack and cached
 * for minutes; someone removed from the security group must lose their vote now, not when the
 * cache runs out. Slack sends `subteam_members_changed` and `subteam_updated` to one of our
 * processes; that one forgets the group and tells the others over Redis pub/sub, and each
 * forgets it too, so the next check asks Slack. The process Slack told then gives every gate
 * waiting for review on that group its reviewers anew (a gate keeps the reviewers resolved
 * when its change record was posted, and the vote script judges clicks by them).
 *
 * Pub/sub delivers at most once: a process whose subscription was down forgets every group
 * when it is back, and the cache's own time limit still bounds anything else that is missed.
 */
export class GroupChanges {
  private readonly subscriber: Redis;
  private readonly channel: string;
  private closed = false;

  private constructor(
    private readonly redis: Redis,
    private readonly directories: readonly ReviewerDirectory[],
    private readonly logger: Logger,
    private readonly onChanged?: (group: string) => Promise<void>,
  ) {
    // Pub/sub is server-wide; the database number keeps deployments that share a server apart.
    this.channel = `cs:usergroups-changed:${redis.options.db ?? 0}`;
    this.subscriber = redis.duplicate({ enableAutoPipelining: false, lazyConnect: true, connectionName: 'countersign-usergroup-changes' });
  }

  /** Subscribes; resolves once changes announced from now on will reach this process. */
  static async start(
    redis: Redis,
    directories: readonly ReviewerDirectory[],
    logger: Logger,
    /** Runs in the process Slack told, once the group is forgotten everywhere (gates waiting for review). */
    onChanged?: (group: string) => Promise<void>,
  ): Promise<GroupChanges> {
    const changes = new GroupChanges(redis, directories, logger, onChanged);
    await changes.subscribe();
    return changes;
  }

  private async subscribe(): Promise<void> {
    const sub = this.subscriber;
    sub.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'user group changes: subscription connection error'));
    sub.on('message', (channel: string, group: string) => {
      if (channel === this.channel) this.forget(group);
    });
    let first = true;
    sub.on('ready', () => {
      if (first) {
        first = false;
        return;
      }
      // Back after a reconnect: what was announced meanwhile is lost. Subscribing again (ioredis
      // does too; a second SUBSCRIBE is harmless) and forgetting every group once that is
      // confirmed leaves no gap: a change announced before the confirmation is covered by the
      // forgetting, one after it arrives as a message.
      sub.subscribe(this.channel).then(
        () => this.forgetAll(),
        () => this.forgetAll(),
      );
    });
    await sub.connect();
    await sub.subscribe(this.channel);
  }

  /** Slack says this group changed: every process forgets it, then this one updates the gates waiting on it. */
  async changed(group: string): Promise<void> {
    this.forget(group);
    try {
      await this.redis.publish(this.channel, group);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, usergroup: group }, 'user group change not announced to the other processes; their cache lapses by itself');
    }
    try {
      await this.onChanged?.(group);
    } catch (err) {
      this.logger.error({ err: (err as Error).message, usergroup: group }, 'user group changed, but the reviewers of gates waiting on it were not all updated');
    }
  }

  /** Listens for Slack's user group events on this app. */
  register(app: App): void {
    app.event('subteam_members_changed', async ({ event }) => {
      // An event without a group id names nothing to forget.
      if (typeof event.subteam_id === 'string' && event.subteam_id !== '') await this.changed(event.subteam_id);
    });
    app.event('subteam_updated', async ({ event }) => {
      const id = event.subteam?.id;
      if (typeof id === 'string' && id !== '') await this.changed(id);
    });
  }

  private forget(group: string): void {
    for (const directory of this.directories) directory.forgetGroup(group);
    this.logger.info({ usergroup: group }, 'user group changed: its members are read from Slack again');
  }

  private forgetAll(): void {
    for (const directory of this.directories) directory.forgetAllGroups();
    this.logger.info('user group changes: subscription back; every group is read from Slack again');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscriber.disconnect();
  }
}
