import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ACTION_APPROVE, ACTION_DENY } from '../../blocks/change-record.js';
import { CALLBACK_DENY, DENY_REASON_ACTION, DENY_REASON_BLOCK } from '../../blocks/deny-modal.js';
import { demoUser } from '../../src/sandbox/demo-workspace.js';
import { viewButtonClickPayload, viewSubmissionPayload } from '../../src/sandbox/slack-interactions.js';
import { signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';
import { approve, changeRecord, eventually, sendInteraction, startSlackTestApp, type SlackTestApp } from '../support/slack.js';

// Reviewers vote from App Home too, and need not be members of the approvals channel. Slack
// refuses an ephemeral message to a non-member, so a refusal must reach them another way.

let t: SlackTestApp;
beforeAll(async () => {
  t = await startSlackTestApp();
});
afterAll(async () => {
  await t.close();
});

const HOME_VIEW = { id: 'VHOME0001', hash: 'h', callback_id: 'countersign_home', private_metadata: '' };

/** A payments change waiting for review, whose approvals channel holds the bot and Elena only. */
async function gateDavidReviewsFromHome(): Promise<string> {
  const answer = await signedCall(t.app.url, 'terraform-bot', t.secrets['terraform-bot']!, 'POST', '/v1/gates', {
    json: { ...example('terraform-apply-prod'), summary: `home ${Math.random()}` },
  });
  expect(answer.status).toBe(201);
  const id = answer.body.id as string;
  const record = await eventually(() => changeRecord(t.slack, id), 10_000);
  t.slack.state.conversations.get(record.channel)!.members = [t.slack.state.seed.bot.userId, demoUser('elena').id];
  return id;
}

function homeClick(who: string, actionId: string, gateId: string) {
  const user = demoUser(who);
  const click = viewButtonClickPayload({ actor: { id: user.id, name: who }, actionId, value: gateId, blockId: `home_review_${gateId}`, view: HOME_VIEW, triggerId: t.slack.issueTriggerId({ user: user.id }) });
  (click.view as Record<string, unknown>).type = 'home';
  return sendInteraction(t, click);
}

type OpenedView = { id: string; hash: string; callback_id: string; private_metadata: string };

/** Opens the deny modal from App Home; returns it as Slack opened it. */
async function openDenyFromHome(who: string, gateId: string): Promise<OpenedView> {
  expect((await homeClick(who, ACTION_DENY, gateId)).status).toBe(200);
  const opened = await t.slack.waitFor((c) => c.method === 'views.open' && c.response.ok === true && JSON.stringify(c.params.view).includes(gateId), 5_000);
  return opened.response.view as OpenedView;
}

/** Submits the deny modal with a reason, as Slack would. */
function submitDeny(who: string, view: OpenedView, reason: string) {
  const user = demoUser(who);
  return sendInteraction(
    t,
    viewSubmissionPayload({
      actor: { id: user.id, name: who },
      view,
      values: { [DENY_REASON_BLOCK]: { [DENY_REASON_ACTION]: { type: 'plain_text_input', value: reason } } },
      triggerId: t.slack.issueTriggerId({ user: user.id }),
    }),
  );
}

/** What the person was told in their DM with the app. */
const dmTexts = (who: string) =>
  [...t.slack.state.conversations.values()].filter((c) => c.isIm && c.user === demoUser(who).id).flatMap((c) => c.messages.map((m) => m.text));

describe('votes from App Home by someone outside the approvals channel', () => {
  test('a deny submitted after the gate was decided is refused in the modal itself', async () => {
    const id = await gateDavidReviewsFromHome();
    const view = await openDenyFromHome('david', id);
    expect(view.callback_id).toBe(CALLBACK_DENY);
    // Meanwhile Elena approves: the gate is decided.
    await approve(t, id, 'elena');
    await eventually(async () => (await t.app.ctx.store.read(id))!.state === 'approved');

    const submitted = await submitDeny('david', view, 'no, this breaks payments');
    expect(submitted.status).toBe(200);
    expect(submitted.body).toEqual({ response_action: 'errors', errors: { [DENY_REASON_BLOCK]: 'This request is already approved; votes are closed.' } });
    expect((await t.app.ctx.store.read(id))!.votes.map((v) => v.voter)).toEqual([demoUser('elena').id]);
  }, 30_000);

  test('a deny that counts closes the modal', async () => {
    const id = await gateDavidReviewsFromHome();
    const submitted = await submitDeny('david', await openDenyFromHome('david', id), 'not during the freeze');
    expect(submitted.status).toBe(200);
    expect(submitted.body ?? {}).not.toHaveProperty('response_action');
    expect((await t.app.ctx.store.read(id))!.state).toBe('denied');
  }, 30_000);

  test('a refused approve is told in a DM, from App Home and from a channel that cannot reach the voter any more', async () => {
    const id = await gateDavidReviewsFromHome();
    await approve(t, id, 'elena');
    await eventually(async () => (await t.app.ctx.store.read(id))!.state === 'approved');
    expect((await homeClick('david', ACTION_APPROVE, id)).status).toBe(200);
    await eventually(() => dmTexts('david').filter((text) => text.includes('This request is already approved; votes are closed.')).length === 1, 5_000);
    // A click on the change record after leaving its channel: Slack refuses the ephemeral.
    expect((await approve(t, id, 'david')).status).toBe(200);
    await t.slack.waitFor((c) => c.method === 'chat.postEphemeral' && c.response.error === 'user_not_in_channel', 5_000);
    await eventually(() => dmTexts('david').filter((text) => text.includes('This request is already approved; votes are closed.')).length === 2, 5_000);
  }, 30_000);
});
