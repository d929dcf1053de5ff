import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { validateMessage } from '../../blocks/limits.js';
import { AUDIT_KEYS } from '../../src/adapters/audit/keys.js';
import { OVERRIDES_KEY, RuntimeOverrides } from '../../src/adapters/admin/overrides-store.js';
import type { PolicyOverrides } from '../../src/core/policy/types.js';
import { type SlackTestApp } from '../support/slack.js';
import { eventually } from '../support/slack.js';
import { command, requestGate, startAdminApp } from './admin-support.js';

let t: SlackTestApp;
beforeAll(async () => {
  t = await startAdminApp();
});
afterAll(async () => {
  await t.close();
});

/** Admin actions recorded in the deployment audit chain, oldest first. */
async function adminEntries(): Promise<Array<Record<string, any>>> {
  const raw = await t.redis.lrange(AUDIT_KEYS.log, 0, -1);
  return raw.map((r) => JSON.parse(r)).filter((r) => r.kind === 'admin').map((r) => JSON.parse(r.entry));
}

describe('help and malformed input', () => {
  test('help lists the commands; the answer is ephemeral and within Slack limits', async () => {
    const answer = await command(t, 'grace', 'help');
    expect(answer.status).toBe(200);
    expect(answer.body.response_type).toBe('ephemeral');
    expect(validateMessage(answer.body)).toBeUndefined();
    expect(answer.text).toContain('/countersign pending');
    expect(answer.text).toContain('*Admins only*');
    const admin = await command(t, 'marta', '');
    expect(admin.text).toContain('you are one');
  });

  test.each([
    ['frobnicate now', 'unknown command'],
    ['show', 'missing gate id'],
    ['show not-a-gate', 'is not a gate id'],
    ['freeze production soon because', 'is not a duration'],
    ['mode sideways', 'observe or enforce'],
    ['stats 99d', '1 to 30'],
    ['policy explode', 'policy version'],
    ['break-glass g_01JD4XK9ZQ3M0000000000000A', 'say why'],
    ['<script>alert(1)</script> `rm -rf` \u0000', 'unknown command'],
  ])('"%s" gets usage help, never an error dump', async (text, why) => {
    const answer = await command(t, 'marta', text);
    expect(answer.status).toBe(200);
    expect(answer.body.response_type).toBe('ephemeral');
    expect(answer.text).toContain(why);
    expect(answer.text).toContain('/countersign help');
    expect(answer.text).not.toMatch(/at .*\.ts:\d+|Error:|stack/);
    expect(validateMessage(answer.body)).toBeUndefined();
  });
});

describe('read-only commands, for everyone', () => {
  test('pending and show list and describe a waiting gate to admins, its reviewers and its requester', async () => {
    const gate = await requestGate(t, 'iam-attach-admin-policy', 'iam-agent');
    await eventually(async () => (await t.app.ctx.store.reviewers(gate.id)).size > 0);
    for (const who of ['marta', 'grace']) {
      // An admin sees every waiting gate; a reviewer (security) their queue, which holds it.
      const pending = await command(t, who, 'pending');
      expect(pending.text).toContain(gate.id);
      expect(pending.text).toContain('iam.attach_role_policy');
    }
    expect((await command(t, 'grace', 'pending')).text).toContain('waiting for your review');
    for (const who of ['marta', 'grace', 'sam']) {
      const shown = await command(t, who, `show ${gate.id.toLowerCase()}`);
      expect(shown.text).toContain(gate.id);
      expect(shown.text).toContain('Approval needed');
      expect(shown.text).toContain('identity-and-secrets');
      expect(validateMessage(shown.body)).toBeUndefined();
    }
    const missing = await command(t, 'kenji', 'show g_00000000000000000000000000');
    expect(missing.text).toContain('There is no gate');
  });

  test('someone who neither reviews nor requested a gate sees neither it nor that it exists', async () => {
    const gate = await requestGate(t, 'iam-attach-admin-policy', 'iam-agent');
    await eventually(async () => (await t.app.ctx.store.reviewers(gate.id)).size > 0);
    const pending = await command(t, 'kenji', 'pending');
    expect(pending.text).not.toContain(gate.id);
    const shown = await command(t, 'kenji', `show ${gate.id}`);
    const missing = await command(t, 'kenji', 'show g_00000000000000000000000000');
    expect(shown.text).not.toContain('identity-and-secrets');
    expect(shown.text.replaceAll(gate.id, 'X')).toBe(missing.text.replaceAll('g_00000000000000000000000000', 'X'));
  });

  test('policy version and stats answer anyone', async () => {
    const version = await command(t, 'grace', 'policy version');
    expect(version.text).toContain(t.app.policy.current().version);
    const stats = await command(t, 'grace', 'stats 7d');
    expect(stats.text).toMatch(/Last 7 days\*: \d+ requests/);
  });

  test('non-admins are refused every admin command, and nothing changes', async () => {
    const gate = await requestGate(t, 'terraform-apply-prod', 'terraform-bot');
    for (const text of ['mode observe', 'freeze staging 1h test', 'unfreeze staging', 'policy reload', 'policy test', `break-glass ${gate.id} the site is down and nobody answers`, `cancel ${gate.id}`]) {
      const answer = await command(t, 'grace', text);
      expect(answer.text).toContain('is for Countersign admins');
    }
    expect(await t.redis.hgetall(OVERRIDES_KEY)).not.toHaveProperty('mode');
    expect((await t.app.ctx.store.read(gate.id))!.state).toBe('pending_review');
    // The attempts are on record.
    const refused = (await adminEntries()).filter((e) => e.actor === 'slack:U0439ZZZZG4' && e.result === 'refused: not an admin');
    expect(refused.map((e) => e.command)).toEqual(['mode', 'freeze', 'unfreeze', 'policy', 'policy', 'break-glass', 'cancel']);
  });
});

describe('admin commands', () => {
  test('a frozen environment turns an allowed action into a review, and unfreeze lifts it', async () => {
    // Setup: a staging deploy is allowed by the staging-changes rule.
    expect((await requestGate(t, 'k8s-deploy-staging', 'deploy-bot')).state).toBe('approved');
    // Execution
    const frozen = await command(t, 'marta', 'freeze staging 2h release candidate soak');
    expect(frozen.text).toContain('is frozen until');
    const during = await requestGate(t, 'k8s-deploy-staging', 'deploy-bot');
    // Validation
    expect(during.state).toBe('pending_review');
    expect(during.decision.reasons.map((r: { rule: string }) => r.rule)).toEqual(expect.arrayContaining([expect.stringMatching(/^freeze:admin-staging-/)]));
    expect((await command(t, 'marta', 'policy version')).text).toContain('release candidate soak');
    const lifted = await command(t, 'marta', 'unfreeze staging');
    expect(lifted.text).toContain('Lifted');
    expect((await requestGate(t, 'k8s-deploy-staging', 'deploy-bot')).state).toBe('approved');
    const audited = await adminEntries();
    expect(audited).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ command: 'freeze', actor: 'slack:U04LJOOA5LQ', args: expect.objectContaining({ environment: 'staging', reason: 'release candidate soak' }) }),
        expect.objectContaining({ command: 'unfreeze', actor: 'slack:U04LJOOA5LQ' }),
      ]),
    );
  });

  test('a freeze is matched as environments are named (lowercase), and unfreeze says which pattern still covers a name', async () => {
    // Execution: typed in capitals, the freeze still applies to staging.
    const frozen = await command(t, 'marta', 'freeze Staging 1h capital letters');
    expect(frozen.text).toContain('`staging` is frozen until');
    expect((await requestGate(t, 'k8s-deploy-staging', 'deploy-bot')).state).toBe('pending_review');
    expect((await command(t, 'marta', 'unfreeze STAGING')).text).toContain('Lifted');
    expect((await requestGate(t, 'k8s-deploy-staging', 'deploy-bot')).state).toBe('approved');

    // A pattern freeze: unfreezing one name it covers lifts nothing, and says so.
    await command(t, 'marta', 'freeze stag* 1h pattern freeze');
    const answer = await command(t, 'marta', 'unfreeze staging');
    expect(answer.text).toContain('`stag*` still covers it');
    expect((await requestGate(t, 'k8s-deploy-staging', 'deploy-bot')).state).toBe('pending_review');
    expect((await command(t, 'marta', 'unfreeze stag*')).text).toContain('Lifted');
  });

  test('a freeze of a name the catalog does not know is refused and sets nothing; covered names and patterns are frozen', async () => {
    // Execution: a typo of staging.
    const typo = await command(t, 'marta', 'freeze stagign 1h release soak');
    // Validation: refused in the reply, naming the classes; no runtime freeze was set.
    expect(typo.body.response_type).toBe('ephemeral');
    expect(typo.text).toContain('"stagign" is neither an environment class (production, staging, development) nor a name one covers');
    expect(typo.text).not.toContain('is frozen until');
    expect((await command(t, 'marta', 'policy version')).text).toContain('Freezes: none');
    // A name a class's glob covers, and a pattern over class names, are frozen.
    for (const env of ['prod-eu-west', 'dev*']) {
      expect((await command(t, 'marta', `freeze ${env} 1h covered`)).text).toContain(`\`${env}\` is frozen until`);
      expect((await command(t, 'marta', `unfreeze ${env}`)).text).toContain('Lifted');
    }
  });

  test('observe → enforce changes the next decision, globally and per rule', async () => {
    const observe = await command(t, 'jonas', 'mode observe');
    expect(observe.text).toContain('*observe* mode');
    const observed = await requestGate(t, 'terraform-apply-prod', 'terraform-bot');
    expect(observed).toMatchObject({ state: 'approved', decision: { mode: 'observe', shadow: { outcome: 'review' } } });
    await command(t, 'jonas', 'mode enforce');
    expect((await requestGate(t, 'terraform-apply-prod', 'terraform-bot')).state).toBe('pending_review');
    // One rule only: production-changes observed, everything else enforced.
    expect((await command(t, 'jonas', 'mode observe no-such-rule')).text).toContain('no rule "no-such-rule"');
    await command(t, 'jonas', 'mode observe production-changes');
    const perRule = await requestGate(t, 'terraform-apply-prod', 'terraform-bot');
    expect(perRule.decision.mode).toBe('observe');
    await command(t, 'jonas', 'mode enforce production-changes');
    expect((await requestGate(t, 'terraform-apply-prod', 'terraform-bot')).decision.mode).toBe('enforce');
    expect((await adminEntries()).filter((e) => e.command === 'mode' && e.actor === 'slack:U06AJ08XUI6')).toHaveLength(4);
    // `clear` hands the decision back to the policy files, globally and per rule.
    expect((await command(t, 'jonas', 'mode')).text).toContain('(runtime override)');
    expect((await command(t, 'jonas', 'mode clear production-changes')).text).toContain('follows the policy files again');
    const cleared = await command(t, 'jonas', 'mode clear');
    expect(cleared.text).toContain('(policy default)');
    expect(cleared.text).not.toContain('(runtime)');
    expect(t.app.overrides.mode).toBeUndefined();
    expect(t.app.overrides.ruleModes ?? {}).toEqual({});
  });

  test('overrides written by one process reach another within its refresh', async () => {
    // A second process's view of the same Redis: its own overrides object, refreshed from the hash.
    const other: PolicyOverrides = {};
    const replica = new RuntimeOverrides(t.redis, other, { now: Date.now });
    await replica.refresh();
    expect(other.freezes).toBeUndefined();
    await command(t, 'marta', 'freeze production 30m incident 4711');
    await replica.refresh();
    expect(other.freezes?.[0]).toMatchObject({ environments: ['production'], outcome: 'review', reason: 'incident 4711' });
    await command(t, 'marta', 'unfreeze all');
    await replica.refresh();
    expect(other.freezes).toBeUndefined();
  });

  test('policy reload and policy test report on the policy set; other replicas reload too', async () => {
    let reloads = 0;
    const replica = new RuntimeOverrides(t.redis, {}, { now: Date.now, onReloadRequest: async () => void (reloads += 1) });
    await replica.refresh();
    const reload = await command(t, 'aiko', 'policy reload');
    expect(reload.text).toContain('Policy reloaded');
    expect(reload.text).toContain(t.app.policy.current().version);
    await replica.refresh();
    expect(reloads).toBe(1);
    await replica.refresh();
    expect(reloads).toBe(1);
    const cases = await command(t, 'aiko', 'policy test');
    expect(cases.text).toMatch(/Policy cases: \d+ passed, 0 failed/);
  });

  test('cancel withdraws a gate and records who did it', async () => {
    const gate = await requestGate(t, 'iam-attach-admin-policy', 'iam-agent');
    const answer = await command(t, 'marta', `cancel ${gate.id} duplicate of an earlier request`);
    expect(answer.text).toContain('is cancelled');
    const stored = (await t.app.ctx.store.read(gate.id))!;
    expect(stored.state).toBe('cancelled');
    expect(stored.resolution).toMatchObject({ actor: 'slack:U04LJOOA5LQ', reason: 'duplicate of an earlier request' });
    expect((await command(t, 'marta', `cancel ${gate.id}`)).text).toContain('is cancelled');
  });
});
