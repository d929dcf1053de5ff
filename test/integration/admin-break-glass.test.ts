import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { validateMessage } from '../../blocks/limits.js';
import { demoUser } from '../../src/sandbox/demo-workspace.js';
import { example } from '../support/gates.js';
import { changeRecord, eventually, type SlackTestApp } from '../support/slack.js';
import { command, requestGate, SECURITY_CHANNEL, startAdminApp } from './admin-support.js';

let t: SlackTestApp;
beforeAll(async () => {
  t = await startAdminApp();
});
afterAll(async () => {
  await t.close();
});

const securityMessages = () => t.slack.state.messages(SECURITY_CHANNEL);
const HOUR = 3_600_000;
/** Runs one reminder round as if the clock read `at` (what each process does every minute). */
const remindAt = (at: number) => t.app.admin.security!.remindDue(at, 4 * HOUR);
const JUSTIFICATION = 'payments API is down; the only reviewer on call is unreachable';

describe('break-glass', () => {
  test('approves a waiting gate, tells the security channel, and opens a two-person review that is reminded until done', async () => {
    // Setup: a production change reviewed by the service owners, which allows break-glass.
    const gate = await requestGate(t, 'terraform-apply-prod', 'terraform-bot');
    expect(gate.state).toBe('pending_review');

    // Execution: marta owns terraform-bot, and its policy excludes the owner: she cannot; jonas can.
    expect((await command(t, 'marta', `break-glass ${gate.id} ${JUSTIFICATION}`)).text).toContain('You own the agent');
    expect((await t.app.ctx.store.read(gate.id))!.state).toBe('pending_review');
    const answer = await command(t, 'jonas', `break-glass ${gate.id} ${JUSTIFICATION}`);

    // Validation: the gate is approved, with the justification as its resolution and an execution window.
    expect(answer.text).toContain('approved by break-glass');
    const stored = (await t.app.ctx.store.read(gate.id))!;
    expect(stored.state).toBe('approved');
    expect(stored.resolution).toMatchObject({ event: 'break_glass', actor: `slack:${demoUser('jonas').id}`, reason: JUSTIFICATION });
    expect(stored.executionDeadline).toBeGreaterThan(Date.now());
    const trail = await t.app.ctx.store.auditTrail(gate.id);
    expect(trail.at(-1)).toMatchObject({ from: 'pending_review', to: 'approved' });
    expect(JSON.parse(trail.at(-1)!.entry)).toMatchObject({ event: 'break_glass', justification: JUSTIFICATION });

    // The security channel is told, within Slack's limits, naming the gate and the justification.
    const announcement = await eventually(() => securityMessages().find((m) => !m.thread_ts && JSON.stringify(m.blocks).includes(gate.id)));
    expect(validateMessage({ text: announcement.text, blocks: announcement.blocks })).toBeUndefined();
    expect(JSON.stringify(announcement.blocks)).toContain('payments API is down');

    // Reminders follow in its thread, one per due time however many processes look, until two
    // people other than jonas have reviewed it.
    const thread = () => securityMessages().filter((m) => m.thread_ts === announcement.ts);
    expect(await remindAt(Date.now() + HOUR)).toBe(0);
    expect(await remindAt(Date.now() + 4 * HOUR + 1)).toBe(1);
    expect(await remindAt(Date.now() + 4 * HOUR + 2)).toBe(0);
    await eventually(() => thread().length === 1);
    expect(thread()[0]!.text).toContain('still needs 2 reviews');
    expect(await remindAt(Date.now() + 9 * HOUR)).toBe(1);
    await eventually(() => thread().length === 2);
    expect((await command(t, 'jonas', `review ${gate.id} ok I broke it myself`)).text).toMatch(/two other people/);
    expect((await command(t, 'kenji', `review ${gate.id} ok looks fine`)).text).toContain('Only admins and the gate');
    expect((await command(t, 'aiko', `review ${gate.id} ok incident 4711 confirmed`)).text).toContain('1 more needed');
    expect((await command(t, 'aiko', `review ${gate.id} concern again`)).text).toContain('already');
    // elena is a payments owner: in the gate's reviewer set, though not an admin.
    expect((await command(t, 'elena', `review ${gate.id} concern should have paged the secondary`)).text).toContain('complete');
    expect(await remindAt(Date.now() + 48 * HOUR)).toBe(0);
    expect(thread()).toHaveLength(2);
    const record = await t.app.admin.admin.postHoc.get(gate.id);
    expect(record?.reviews.map((r) => r.reviewer)).toEqual([demoUser('aiko').id, demoUser('elena').id]);

    // The metrics count it.
    const metrics = await t.app.admin.metrics.scrape();
    expect(metrics.text).toMatch(/countersign_break_glass_total\{action="terraform.apply"\} 1/);
  });

  test('is refused where the policy does not permit it', async () => {
    // Irreversible production changes: breakGlass: false in policies/rules.yaml.
    const gate = await requestGate(t, 'db-drop-column-prod', 'migration-agent');
    const answer = await command(t, 'jonas', `break-glass ${gate.id} ${JUSTIFICATION}`);
    expect(answer.text).toContain('does not permit break-glass');
    expect((await t.app.ctx.store.read(gate.id))!.state).toBe('pending_review');
  });

  test('is refused on a protected target, whatever the rule says', async () => {
    const gate = await requestGate(t, 'iam-attach-admin-policy', 'iam-agent', {
      resources: [{ type: 'aws.iam_role', id: 'arn:aws:iam::111122223333:role/OrganizationAccountAccessRole' }],
    });
    const answer = await command(t, 'jonas', `break-glass ${gate.id} ${JUSTIFICATION}`);
    expect(answer.text).toContain('protected target');
    expect((await t.app.ctx.store.read(gate.id))!.state).toBe('pending_review');
  });

  test("is refused on one's own request, recognised by Slack id even under another email, and reviewed by others only", async () => {
    // Setup: requested for aiko (an admin) under an email alias her Slack profile does not show;
    // the agent names her Slack id, and the change record resolved it.
    const context = { ...example('terraform-apply-prod').context, requester: { email: 'aiko@corp-alias.example.com', slackUserId: demoUser('aiko').id } };
    const gate = await requestGate(t, 'terraform-apply-prod', 'terraform-bot', { context });
    await eventually(() => changeRecord(t.slack, gate.id));

    // Execution + validation: aiko cannot break the glass, nor review the break-glass of another admin.
    expect((await command(t, 'aiko', `break-glass ${gate.id} ${JUSTIFICATION}`)).text).toContain('requested on your behalf');
    expect((await t.app.ctx.store.read(gate.id))!.state).toBe('pending_review');
    expect((await command(t, 'jonas', `break-glass ${gate.id} ${JUSTIFICATION}`)).text).toContain('approved by break-glass');
    expect((await command(t, 'aiko', `review ${gate.id} ok all good from me`)).text).toContain('requested on your behalf');
    expect((await t.app.admin.admin.postHoc.get(gate.id))?.reviews).toEqual([]);
  });

  test('needs a real justification, a waiting gate and an admin', async () => {
    const gate = await requestGate(t, 'terraform-apply-prod', 'terraform-bot');
    expect((await command(t, 'jonas', `break-glass ${gate.id} urgent`)).text).toContain('at least 15 characters');
    expect((await command(t, 'elena', `break-glass ${gate.id} ${JUSTIFICATION}`)).text).toContain('is for Countersign admins');
    await command(t, 'marta', `cancel ${gate.id}`);
    expect((await command(t, 'jonas', `break-glass ${gate.id} ${JUSTIFICATION}`)).text).toContain('is cancelled');
    expect((await t.app.ctx.store.read(gate.id))!.state).toBe('cancelled');
  });
  test('a deployment-chain record that cannot be written does not turn a break-glass that took effect into "nothing was changed", nor keep it from the security channel', async () => {
    // Setup: the deployment chain refuses the break-glass record (a Redis blip; a contended append).
    const gate = await requestGate(t, 'terraform-apply-prod', 'terraform-bot');
    const audit = t.app.admin.admin.audit as { admin: (entry: { command?: string }) => Promise<unknown> };
    const original = audit.admin.bind(audit);
    let refused = 0;
    audit.admin = async (entry) => {
      if (entry.command !== 'break-glass') return original(entry as never);
      refused += 1;
      throw new Error('Connection is closed.');
    };

    // Execution
    let answer: { text: string };
    try {
      answer = await command(t, 'jonas', `break-glass ${gate.id} ${JUSTIFICATION}`);
    } finally {
      audit.admin = original;
    }

    // Validation: approved and said so; the security channel told at once; the record tried again.
    expect((await t.app.ctx.store.read(gate.id))!.state).toBe('approved');
    expect(answer.text).toContain('approved by break-glass');
    expect(answer.text).not.toContain('nothing was changed');
    expect(securityMessages().filter((m) => JSON.stringify(m).includes(gate.id)).length).toBeGreaterThanOrEqual(1);
    expect(refused).toBe(3);
  });
});

describe('break-glass while Slack refuses the announcement', () => {
  test('the announcement is posted at the next reminder check, not hours later', async () => {
    const gate = await requestGate(t, 'terraform-apply-prod', 'terraform-bot');
    t.slack.failNext('chat.postMessage', 'internal_error');
    expect((await command(t, 'jonas', `break-glass ${gate.id} ${JUSTIFICATION}`)).text).toContain('approved by break-glass');
    expect(securityMessages().some((m) => JSON.stringify(m.blocks).includes(gate.id))).toBe(false);
    // The next minute's check (not the first reminder, four hours on) posts it.
    expect(await remindAt(Date.now() + 1_000)).toBe(1);
    await eventually(() => securityMessages().find((m) => !m.thread_ts && JSON.stringify(m.blocks).includes(gate.id)));
    expect((await t.app.admin.admin.postHoc.get(gate.id))?.announcement).toBeDefined();
  });
});

describe('break-glass while Slack cannot say who the admin is', () => {
  // A fresh app: no profile is cached yet.
  let fresh: SlackTestApp;
  beforeAll(async () => {
    fresh = await startAdminApp();
  });
  afterAll(async () => {
    await fresh.close();
  });

  test('fails closed, and the failed lookup is not remembered', async () => {
    // Setup: requested for someone Slack does not know (no Slack id to compare with); the
    // lookup of the admin's own profile fails once.
    const context = { ...example('terraform-apply-prod').context, requester: { email: 'contractor@partner.example.net' } };
    const gate = await requestGate(fresh, 'terraform-apply-prod', 'terraform-bot', { context });
    fresh.slack.failNext('users.info', 'ratelimited');

    // Execution + validation: refused while jonas's email is unknown; allowed once Slack answers.
    expect((await command(fresh, 'jonas', `break-glass ${gate.id} ${JUSTIFICATION}`)).text).toContain('could not be read from Slack');
    expect((await fresh.app.ctx.store.read(gate.id))!.state).toBe('pending_review');
    expect((await command(fresh, 'jonas', `break-glass ${gate.id} ${JUSTIFICATION}`)).text).toContain('approved by break-glass');
  });
});
