import { describe, expect, test } from '@jest/globals';
import type { WebClient } from '@slack/web-api';
import { ReviewerDirectory } from '../../../src/adapters/slack/reviewer-directory.js';

/** A Web API client whose `usergroups.users.list` answers only when the test says so. */
function slowGroups() {
  const calls: Array<(users: string[]) => void> = [];
  const client = {
    usergroups: { users: { list: () => new Promise((resolve) => calls.push((users) => resolve({ ok: true, users }))) } },
  } as unknown as WebClient;
  return { client, calls };
}

const SET = { id: 'security', channel: 'C0000000', usergroups: [{ id: 'S0SECURITY' }], users: [] };

describe('ReviewerDirectory', () => {
  test('caches a group until it is forgotten', async () => {
    const { client, calls } = slowGroups();
    const directory = new ReviewerDirectory(client);
    const first = directory.members(SET);
    calls.shift()!(['U1', 'U2']);
    expect([...(await first).keys()]).toEqual(['U1', 'U2']);
    expect([...(await directory.members(SET)).keys()]).toEqual(['U1', 'U2']);
    expect(calls).toHaveLength(0);
    directory.forgetGroup('S0SECURITY');
    const again = directory.members(SET);
    calls.shift()!(['U1']);
    expect([...(await again).keys()]).toEqual(['U1']);
  });

  test('a read begun before the group changed is not cached', async () => {
    const { client, calls } = slowGroups();
    const directory = new ReviewerDirectory(client);
    const stale = directory.members(SET);
    directory.forgetGroup('S0SECURITY');
    calls.shift()!(['U1', 'U2']);
    await stale;
    // The next check asks Slack again instead of trusting the answer read before the change.
    const fresh = directory.members(SET);
    expect(calls).toHaveLength(1);
    calls.shift()!(['U1']);
    expect([...(await fresh).keys()]).toEqual(['U1']);
  });

  test('forgetting every group', async () => {
    const { client, calls } = slowGroups();
    const directory = new ReviewerDirectory(client);
    const first = directory.members(SET);
    calls.shift()!(['U1']);
    await first;
    directory.forgetAllGroups();
    void directory.members(SET);
    expect(calls).toHaveLength(1);
  });
});

describe('ReviewerDirectory.requesterSlackId', () => {
  const users: Record<string, string> = { 'ana.silva@example.com': 'U_ANA' };
  const client = {
    users: {
      lookupByEmail: async ({ email }: { email: string }) => {
        const id = users[email.toLowerCase()];
        if (!id) throw Object.assign(new Error('users_not_found'), { data: { error: 'users_not_found' } });
        return { ok: true, user: { id } };
      },
    },
  } as unknown as WebClient;

  test('a +tag alias is found by its mailbox, before any id the agent sent', async () => {
    const directory = new ReviewerDirectory(client);
    expect(await directory.requesterSlackId({ email: 'Ana.Silva+deploybot@example.com', slackUserId: 'U_DAVID' })).toEqual({ id: 'U_ANA', fromEmail: true });
    expect(await directory.requesterSlackId({ email: 'ana.silva@example.com' })).toEqual({ id: 'U_ANA', fromEmail: true });
  });

  test('the agent-sent id only when nobody has the email', async () => {
    const directory = new ReviewerDirectory(client);
    expect(await directory.requesterSlackId({ email: 'nobody+x@example.com', slackUserId: 'U_DAVID' })).toEqual({ id: 'U_DAVID', fromEmail: false });
    expect(await directory.requesterSlackId({ email: 'nobody@example.com' })).toBeUndefined();
  });
});
