import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { demoUser } from '../../src/sandbox/demo-workspace.js';
import { approve, changeRecord, ephemeralsFor, eventually, type SlackTestApp } from '../support/slack.js';
import { requestGate, sendEvent, startAdminApp } from './admin-support.js';

/** Data stewards (chloe, leo, priya): the user group of the `data-owners` reviewer set. */
const DATA_STEWARDS = 'S07U33XTPLP';
const DATA_OWNERS_CHANNEL = 'C07Z5FK2Z9R';

let t: SlackTestApp;
beforeAll(async () => {
  t = await startAdminApp();
});
afterAll(async () => {
  await t?.close();
});

test('a reviewer removed from the group while the change record waits for its channel slot loses their vote', async () => {
  // Slack makes the change record wait (a burst on the channel): the post job has already stored
  // the reviewers (leo among them) when it is told to come back later.
  t.slack.rateLimit({ method: 'chat.postMessage', channel: DATA_OWNERS_CHANNEL, retryAfterSeconds: 2 });
  const gate = await requestGate(t, 'customer-data-export', 'data-agent');
  const leo = demoUser('leo').id;
  await eventually(async () => (await t.app.ctx.store.reviewers(gate.id)).has(leo));
  expect(changeRecord(t.slack, gate.id)).toBeUndefined();

  // Now leo leaves the data stewards, and Slack says so.
  const members = t.slack.state.usergroups.get(DATA_STEWARDS)!.members;
  members.splice(members.indexOf(leo), 1);
  const answer = await sendEvent(t, { type: 'subteam_members_changed', subteam_id: DATA_STEWARDS, team_id: 'T0SANDBOX', added_users: [], removed_users: [leo], date_previous_update: 1, date_update: 2 });
  expect(answer.status).toBe(200);

  // The change record appears once the slot opens.
  await eventually(() => changeRecord(t.slack, gate.id), 10_000);
  await new Promise((r) => setTimeout(r, 300));

  // leo is no longer a reviewer of the gate, and his approval does not count.
  const stillReviewer = (await t.app.ctx.store.reviewers(gate.id)).has(leo);
  await approve(t, gate.id, 'leo');
  await eventually(() => ephemeralsFor(t.slack, 'leo').length > 0 || (async () => ((await t.app.ctx.store.read(gate.id))!.votes.length > 0))());
  const votes = (await t.app.ctx.store.read(gate.id))!.votes.map((v) => v.voter);
  expect({ stillReviewer, votes }).toEqual({ stillReviewer: false, votes: [] });
}, 30_000);
