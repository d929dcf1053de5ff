import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { awaitingIndexKey } from '../../src/adapters/redis/keys.js';
import { demoUser } from '../../src/sandbox/demo-workspace.js';
import { approve, changeRecord, ephemeralsFor, eventually, type SlackTestApp } from '../support/slack.js';
import { startTestApp } from '../support/app.js';
import { ADMIN_GROUP, command, requestGate, sendEvent, startAdminApp } from './admin-support.js';

/** Data stewards (chloe, leo, priya): the user group of the `data-owners` reviewer set. */
const DATA_STEWARDS = 'S07U33XTPLP';

let t: SlackTestApp;
/** A second process on the same Redis database and the same Slack workspace (no events reach it). */
let other: SlackTestApp;

beforeAll(async () => {
  t = await startAdminApp();
  const second = await startTestApp({ flush: false, env: { ...t.env } });
  other = { ...second, slack: t.slack };
});
afterAll(async () => {
  await other?.close();
  await t?.close();
});

function removeFromGroup(group: string, who: string): string[] {
  const members = t.slack.state.usergroups.get(group)!.members;
  const id = demoUser(who).id;
  members.splice(members.indexOf(id), 1);
  return [id];
}

const isAdmin = async (app: SlackTestApp, who: string) => (await command(app, who, '')).text.includes('you are one');

describe('user group changes Slack announces take effect at once', () => {
  test('an event that names no group is acknowledged and changes nothing', async () => {
    expect(await isAdmin(t, 'marta')).toBe(true);
    expect((await sendEvent(t, { type: 'subteam_members_changed', team_id: 'T0SANDBOX' })).status).toBe(200);
    expect((await sendEvent(t, { type: 'subteam_updated', subteam: {} })).status).toBe(200);
    expect(await isAdmin(t, 'marta')).toBe(true);
  });

  test('a reviewer removed from the group loses their vote', async () => {
    const gate = await requestGate(t, 'customer-data-export', 'data-agent');
    expect(gate.state).toBe('pending_review');
    await eventually(() => changeRecord(t.slack, gate.id));
    // An outsider's refused vote reads the set's members, and the directory keeps them.
    await approve(t, gate.id, 'kenji');
    await eventually(() => ephemeralsFor(t.slack, 'kenji').some((e) => e.includes('not in the reviewer set')));

    const removed = removeFromGroup(DATA_STEWARDS, 'leo');
    const answer = await sendEvent(t, { type: 'subteam_members_changed', subteam_id: DATA_STEWARDS, team_id: 'T0SANDBOX', added_users: [], removed_users: removed, date_previous_update: 1, date_update: 2 });
    expect(answer.status).toBe(200);
    // Bolt answers Slack first; the gate's reviewers follow.
    await eventually(async () => !(await t.app.ctx.store.reviewers(gate.id)).has(removed[0]!));
    expect((await t.app.ctx.store.reviewers(gate.id)).has(demoUser('chloe').id)).toBe(true);
    // Out of leo's App Home queue too.
    expect(await t.redis.zscore(awaitingIndexKey(removed[0]!), gate.id)).toBeNull();
    expect(await t.redis.zscore(awaitingIndexKey('U05886VOMPZ'), gate.id)).not.toBeNull(); // privacy, named in the set

    await approve(t, gate.id, 'leo');
    await eventually(() => ephemeralsFor(t.slack, 'leo').some((e) => e.includes('not in the reviewer set')));
    const read = await t.app.ctx.store.read(gate.id);
    expect(read!.state).toBe('pending_review');
    expect(read!.votes).toEqual([]);
  });

  test('an admin removed from the admin group loses admin commands, in every process', async () => {
    expect(await isAdmin(t, 'marta')).toBe(true);
    expect(await isAdmin(other, 'marta')).toBe(true);

    const removed = removeFromGroup(ADMIN_GROUP, 'marta');
    // Slack sends the event to one process only; the other hears of it through Redis.
    const answer = await sendEvent(t, {
      type: 'subteam_updated',
      subteam: { id: ADMIN_GROUP, team_id: 'T0SANDBOX', is_usergroup: true, handle: 'platform-oncall', users: t.slack.state.usergroups.get(ADMIN_GROUP)!.members, user_count: 2 },
    });
    expect(answer.status).toBe(200);
    expect(removed).toHaveLength(1);

    expect(await isAdmin(t, 'marta')).toBe(false);
    await eventually(async () => !(await isAdmin(other, 'marta')));
    const freeze = await command(other, 'marta', 'freeze staging 1h testing');
    expect(freeze.text).toContain('admin');
    expect(other.app.overrides.freezes ?? []).toEqual([]);
    expect(t.app.overrides.freezes ?? []).toEqual([]);
  });
});
