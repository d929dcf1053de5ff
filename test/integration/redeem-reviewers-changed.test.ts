import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evidenceHash } from '../../src/core/evidence-hash.js';
import { demoUser } from '../../src/sandbox/demo-workspace.js';
import { signedCall } from '../support/agent-http.js';
import { POLICIES_DIR } from '../support/app.js';
import { example } from '../support/gates.js';
import { approve, changeRecord, eventually, type SlackTestApp } from '../support/slack.js';
import { requestGate, sendEvent, startAdminApp } from './admin-support.js';

// DESIGN: a vote counts only while the voter is in the gate's resolved reviewer set, and redeem
// re-checks policy. Someone taken out of the set after approving (reviewers.yaml, or the Slack
// user group) no longer vouches for the gate: their approval does not release the grant.

/** Data stewards (chloe, leo, priya): the user group of the `data-owners` reviewer set. */
const DATA_STEWARDS = 'S07U33XTPLP';

let t: SlackTestApp;
let dir: string;
let reviewersYaml: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cs-policies-'));
  cpSync(POLICIES_DIR, dir, { recursive: true });
  reviewersYaml = readFileSync(join(dir, 'reviewers.yaml'), 'utf8');
  t = await startAdminApp({ policies: dir, env: { COUNTERSIGN_PUBLIC_URL: 'https://countersign.test' } });
});
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function approvedBy(name: string, agent: string, voters: string[]): Promise<{ id: string; hash: string }> {
  const body = { ...example(name), summary: `${example(name).summary} (${Math.random()})` };
  const gate = await requestGate(t, name, agent, { summary: body.summary });
  await eventually(() => changeRecord(t.slack, gate.id));
  expect(gate.decision.review.quorum).toBe(voters.length);
  for (const who of voters) await approve(t, gate.id, who);
  await eventually(async () => (await t.app.ctx.store.read(gate.id))?.state === 'approved');
  return { id: gate.id, hash: evidenceHash(body as unknown as Record<string, unknown>) };
}

const redeem = (agent: string, gate: { id: string; hash: string }) =>
  signedCall(t.app.url, agent, t.secrets[agent]!, 'POST', `/v1/gates/${gate.id}/redeem`, { json: { evidenceHash: gate.hash } });

describe('redeem counts only approvals of people still among the reviewers', () => {
  test('a reviewer taken out of reviewers.yaml after approving: refused as policy-tightened', async () => {
    const gate = await approvedBy('iam-attach-admin-policy', 'iam-agent', ['grace', 'omar']);
    // Security offboards Omar; the policy reloads.
    writeFileSync(join(dir, 'reviewers.yaml'), reviewersYaml.replace(`      - { id: ${demoUser('omar').id} }\n`, ''));
    expect((await t.app.policy.reload()).ok).toBe(true);
    await eventually(async () => !(await t.app.ctx.store.reviewers(gate.id)).has(demoUser('omar').id));

    const answer = await redeem('iam-agent', gate);
    expect({ status: answer.status, code: answer.body?.code }).toEqual({ status: 409, code: 'ERR_POLICY_TIGHTENED' });
    expect(answer.body.detail).toContain("1 of this gate's 2 came from people no longer among its reviewers");
    expect((await t.app.ctx.store.read(gate.id))!.state).toBe('approved');

    // Omar is back: the same approvals release it again.
    writeFileSync(join(dir, 'reviewers.yaml'), reviewersYaml);
    expect((await t.app.policy.reload()).ok).toBe(true);
    await eventually(async () => (await t.app.ctx.store.reviewers(gate.id)).has(demoUser('omar').id));
    expect((await redeem('iam-agent', gate)).status).toBe(200);
  });

  test('a reviewer removed from the Slack user group after approving: refused as policy-tightened', async () => {
    const quorum = (await requestGate(t, 'customer-data-export', 'data-agent')).decision.review.quorum as number;
    // Data stewards other than chloe, who owns the data agent.
    const voters = ['leo', 'priya'].slice(0, quorum);
    const gate = await approvedBy('customer-data-export', 'data-agent', voters);
    const gone = demoUser(voters.at(-1)!).id;
    const members = t.slack.state.usergroups.get(DATA_STEWARDS)!.members;
    members.splice(members.indexOf(gone), 1);
    expect((await sendEvent(t, { type: 'subteam_members_changed', subteam_id: DATA_STEWARDS, team_id: 'T0SANDBOX', added_users: [], removed_users: [gone], date_previous_update: 1, date_update: 2 })).status).toBe(200);
    await eventually(async () => !(await t.app.ctx.store.reviewers(gate.id)).has(gone));

    const answer = await redeem('data-agent', gate);
    expect({ status: answer.status, code: answer.body?.code }).toEqual({ status: 409, code: 'ERR_POLICY_TIGHTENED' });
    expect(answer.body.detail).toContain('no longer among its reviewers');
  });
});
