import type { WebClient } from '@slack/web-api';
import { mailboxOf } from '../../core/mailbox.js';
import type { ReviewerSet } from '../../core/policy/schema.js';

interface Cached<T> {
  value: T;
  until: number;
}

/**
 * Resolves reviewer sets and people through the Slack Web API, with a TTL cache:
 * `usergroups.users.list` is Tier 2 (about 20 calls a minute), `users.lookupByEmail` Tier 3.
 * A group's members are forgotten as soon as Slack says they changed (see GroupChanges).
 */
export class ReviewerDirectory {
  private readonly groups = new Map<string, Cached<string[]>>();
  private readonly byEmail = new Map<string, Cached<string | undefined>>();
  private readonly emails = new Map<string, Cached<string | undefined>>();
  /** Bumped when a group is forgotten, so that a read begun before the change is not cached. */
  private groupGeneration = 0;

  constructor(
    private readonly client: WebClient,
    private readonly options: { ttlMs?: number; now?: () => number } = {},
  ) {}

  private get ttl(): number {
    return this.options.ttlMs ?? 5 * 60_000;
  }
  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private async cached<T>(cache: Map<string, Cached<T>>, key: string, load: () => Promise<T>, generation?: () => number): Promise<T> {
    const hit = cache.get(key);
    if (hit && hit.until > this.now()) return hit.value;
    const before = generation?.();
    const value = await load();
    if (generation === undefined || generation() === before) cache.set(key, { value, until: this.now() + this.ttl });
    return value;
  }

  /** Slack says this group's members changed: the next check reads them again. */
  forgetGroup(group: string): void {
    this.groupGeneration += 1;
    this.groups.delete(group);
  }

  /** Every group is read again (changes may have been missed). */
  forgetAllGroups(): void {
    this.groupGeneration += 1;
    this.groups.clear();
  }

  /** Everyone who may vote for this set, with the team each counts for. Explicit users win over groups. */
  async members(set: ReviewerSet): Promise<Map<string, string | undefined>> {
    const out = new Map<string, string | undefined>();
    for (const user of set.users) out.set(user.id, user.team ?? set.team);
    for (const group of set.usergroups) {
      const users = await this.cached(
        this.groups,
        group.id,
        async () => {
          const res = await this.client.usergroups.users.list({ usergroup: group.id });
          return (res.users ?? []) as string[];
        },
        () => this.groupGeneration,
      );
      for (const user of users) if (!out.has(user)) out.set(user, group.team ?? set.team);
    }
    return out;
  }

  /** How the set is mentioned in its channel: its user groups, else its users. */
  mention(set: ReviewerSet): string {
    const groups = set.usergroups.map((g) => `<!subteam^${g.id}>`);
    return (groups.length > 0 ? groups : set.users.map((u) => `<@${u.id}>`)).join(' ');
  }

  /** The Slack user with this email, if any (negative answers are cached too). */
  async userByEmail(email: string): Promise<string | undefined> {
    return this.cached(this.byEmail, email.toLowerCase(), async () => {
      try {
        const res = await this.client.users.lookupByEmail({ email });
        return res.user?.id;
      } catch (err) {
        if ((err as { data?: { error?: string } }).data?.error === 'users_not_found') return undefined;
        throw err;
      }
    });
  }

  /**
   * The requester's Slack user: looked up by their email, then by its mailbox when that differs
   * (`ana+deploybot@` is Ana), and only then the id the agent sent, which nothing confirms
   * (`fromEmail` false).
   */
  async requesterSlackId(requester: { email: string; slackUserId?: string | undefined }): Promise<{ id: string; fromEmail: boolean } | undefined> {
    const found = await this.userByEmail(requester.email);
    if (found) return { id: found, fromEmail: true };
    const mailbox = mailboxOf(requester.email);
    if (mailbox !== requester.email.toLowerCase()) {
      const byMailbox = await this.userByEmail(mailbox);
      if (byMailbox) return { id: byMailbox, fromEmail: true };
    }
    return requester.slackUserId ? { id: requester.slackUserId, fromEmail: false } : undefined;
  }

  /**
   * A user's email from their profile, lowercase (needs `users:read.email`); undefined when the
   * profile has none or Slack could not be asked. A failed call is not remembered: the next
   * one asks again (callers that check "is this the requester?" refuse without an email).
   */
  async emailOf(userId: string): Promise<string | undefined> {
    try {
      return await this.cached(this.emails, userId, async () => {
        const res = await this.client.users.info({ user: userId });
        return res.user?.profile?.email?.toLowerCase();
      });
    } catch {
      return undefined;
    }
  }
}
