import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { castVote } from '../../src/app/cast-vote.js';
import { evidenceHash } from '../../src/core/evidence-hash.js';
import { signedCall } from '../support/agent-http.js';
import { POLICIES_DIR, startTestApp, type TestApp } from '../support/app.js';
import { example } from '../support/gates.js';

// Redeem re-checks the current policy (DESIGN: "revalidate (state, window, hash, policy)"): the
// approvals of one reviewer set do not release a gate that the policy now gives to another, nor
// an owner's approval where owners are now excluded.
let t: TestApp;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cs-policies-'));
  cpSync(POLICIES_DIR, dir, { recursive: true });
  t = await startTestApp({ policies: dir, env: { COUNTERSIGN_PUBLIC_URL: 'https://countersign.test' } });
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a rule moved to another reviewer set after the approval: the redeem is refused as policy-tightened', async () => {
  const body = example('terraform-apply-prod');
  const created = await signedCall(t.app.url, 'terraform-bot', t.secrets['terraform-bot']!, 'POST', '/v1/gates', { json: body });
  expect(created.status).toBe(201);
  expect(created.body.decision.review).toMatchObject({ reviewerSet: 'service-owners', quorum: 1 });
  const id = created.body.id as string;
  // One service owner (checkout team) approves: quorum 1 met.
  await t.app.ctx.store.setReviewers(id, new Map([['U0SERVICEOWNER', 'checkout']]));
  await castVote(t.app.ctx, { gateId: id, voter: { id: 'U0SERVICEOWNER', email: 'owner@example.com' }, vote: 'approve' });
  expect((await t.app.ctx.store.read(id))!.state).toBe('approved');

  // Security decides production changes now need the security reviewer set; the policy reloads.
  const rules = join(dir, 'rules.yaml');
  writeFileSync(rules, readFileSync(rules, 'utf8').replace(/(id: production-changes[\s\S]*?reviewerSet: )service-owners/, '$1security'));
  expect((await t.app.policy.reload()).ok).toBe(true);
  expect(t.app.ctx.decide(((await t.app.ctx.store.read(id))!).request, 'terraform-bot', Date.now()).review?.reviewerSet).toBe('security');

  const answer = await signedCall(t.app.url, 'terraform-bot', t.secrets['terraform-bot']!, 'POST', `/v1/gates/${id}/redeem`, {
    json: { evidenceHash: evidenceHash(body as unknown as Record<string, unknown>) },
  });
  expect({ status: answer.status, code: answer.body?.code }).toEqual({ status: 409, code: 'ERR_POLICY_TIGHTENED' });
  expect(answer.body.detail).toContain('reviewed by security; it was approved by reviewers of service-owners');
  expect((await t.app.ctx.store.read(id))!.state).toBe('approved');
});
