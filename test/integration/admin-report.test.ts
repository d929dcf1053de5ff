import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { castVote } from '../../src/app/cast-vote.js';
import { reportCommand } from '../../src/cli/report.js';
import type { AuditIo } from '../../src/cli/audit.js';
import { example } from '../support/gates.js';
import { testRedisUrl } from '../support/redis.js';
import { approveInSlack, createGate, redeem, startExecutionApp, type ExecutionApp } from './execution-fixtures.js';

let t: ExecutionApp;
beforeAll(async () => {
  t = await startExecutionApp();
});
afterAll(async () => {
  await t.close();
});

async function report(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: AuditIo = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: { REDIS_URL: testRedisUrl() }, now: t.clock.now };
  return { code: await reportCommand(args, io), out, err };
}

const SECURITY = [
  { id: 'U0439ZZZZG4', team: 'security' },
  { id: 'U07DMEN2KHV', team: 'security' },
];

describe('countersign report', () => {
  test('per action: review share, approval rate, median latency, denials, drift, and what enforcing observed rules would cost', async () => {
    // Setup 1: observe mode. Both requests run at once; enforce would have asked for 1 + 2 approvals.
    await t.app.admin.runtime.setMode('observe');
    expect((await createGate(t, 'terraform-bot', example('terraform-apply-prod'))).state).toBe('approved');
    expect((await createGate(t, 'iam-agent', example('iam-attach-admin-policy'))).state).toBe('approved');
    await t.app.admin.runtime.setMode(undefined);

    // Setup 2: enforce mode. One IAM change approved after 10 minutes, one denied, a staging deploy whose evidence drifted.
    const iam = await createGate(t, 'iam-agent', example('iam-attach-admin-policy'));
    t.clock.advance(10 * 60_000);
    await approveInSlack(t, iam.id, SECURITY);
    const denied = await createGate(t, 'iam-agent', example('iam-attach-admin-policy'));
    await t.app.ctx.store.setReviewers(denied.id, new Map([['U04GAJ8GXBE', 'security']]));
    t.clock.advance(2 * 60_000);
    await castVote(t.app.ctx, { gateId: denied.id, voter: { id: 'U04GAJ8GXBE' }, vote: 'deny', reason: 'too broad' });
    const staging = await createGate(t, 'deploy-bot', example('k8s-deploy-staging'));
    expect((await redeem(t, 'deploy-bot', staging.id, `sha256:${'1'.repeat(64)}`)).body.code).toBe('ERR_EVIDENCE_DRIFT');

    // Execution: the CLI reads Redis like another process, so the app's pending figures are written first.
    await t.app.admin.stats.flush();
    const json = await report(['--days', '7', '--json']);
    const text = await report([]);

    // Validation
    expect(json.code).toBe(0);
    const r = JSON.parse(json.out);
    const row = (action: string) => r.rows.find((x: { action: string }) => x.action === action);
    expect(row('iam.attach_role_policy')).toMatchObject({ requests: 3, reviews: 2, approvalRate: 0.5, denied: 1, shadowReviews: 1, shadowClicks: 2 });
    // The clock runs on between the steps: within a second of the 6 minutes asked for.
    expect(Math.abs(row('iam.attach_role_policy').medianLatencyMs - (10 * 60_000 + 2 * 60_000) / 2)).toBeLessThan(1_000);
    expect(row('terraform.apply')).toMatchObject({ requests: 1, reviews: 0, shadowReviews: 1, shadowClicks: 1 });
    expect(row('k8s.deploy')).toMatchObject({ requests: 1, drift: 1, reviewShare: 0 });
    // The share that needs a human is what enforce mode asks for: the observed ones count too.
    expect(row('iam.attach_role_policy').reviewShare).toBe(1);
    expect(row('terraform.apply').reviewShare).toBe(1);
    expect(r.totals).toMatchObject({ requests: 5, reviews: 2, shadowClicks: 3 });
    expect(r.tooCoarse).toBe(true); // 2 of 5 needed a human
    expect(r.rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ rule: 'identity-and-secrets', shadowReviews: 1, shadowClicks: 2 }),
        expect.objectContaining({ rule: 'production-changes', shadowReviews: 1, shadowClicks: 1 }),
      ]),
    );
    expect(text.out).toContain('Countersign report, last 30 days');
    expect(text.out).toMatch(/iam\.attach_role_policy\s+3\s+100%\s+50%\s+6m/);
    expect(text.out).toContain('the policy is probably too coarse');
    expect(text.out).toContain('identity-and-secrets: 1 reviews (2 approval clicks)');
    expect((await report(['--days', 'lots'])).code).toBe(2);
  });
});
