import type { ReviewerDirectory } from './reviewer-directory.js';

/**
 * Who is a Countersign admin: the members of one Slack user group (COUNTERSIGN_ADMIN_GROUP),
 * resolved through the reviewer directory's cache. Without a group nobody is an admin: the
 * product fails closed rather than letting everyone freeze or break glass.
 */
export class AdminDirectory {
  constructor(
    private readonly directory: ReviewerDirectory,
    readonly group: string | undefined,
  ) {}

  async isAdmin(user: string): Promise<boolean> {
    if (!this.group) return false;
    const members = await this.directory.members({ id: 'countersign-admins', channel: 'C0000000', usergroups: [{ id: this.group }], users: [] });
    return members.has(user);
  }
}
