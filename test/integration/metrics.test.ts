import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { evidenceHash } from '../../src/core/evidence-hash.js';
import { call, signedCall } from '../support/agent-http.js';
import { example } from '../support/gates.js';
import { parsePrometheusText, valueOf, type MetricFamily } from '../support/prometheus-text.js';
import { approve, changeRecord, deny, ephemeralsFor, eventually, type SlackTestApp } from '../support/slack.js';
import { requestGate, startAdminApp } from './admin-support.js';

let t: SlackTestApp;
beforeAll(async () => {
  t = await startAdminApp();
});
afterAll(async () => {
  await t.close();
});

/**
 * GET /metrics, parsed as Prometheus text twice: by `parse-prometheus-text-format` and by the
 * strict line-grammar parser in test/support; both must read the same families.
 */
async function scrape(): Promise<MetricFamily[]> {
  const answer = await call(t.app.url, 'GET', '/metrics');
  expect(answer.status).toBe(200);
  expect(answer.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusText(answer.text);
  const external = parsePrometheusTextFormat(answer.text) as Array<{ name: string }>;
  expect(external.map((f) => f.name).sort()).toEqual(families.map((f) => f.name).sort());
  return families;
}

const agentCall = (agent: string, method: string, path: string, json?: unknown, secret = t.secrets[agent]!) =>
  signedCall(t.app.url, agent, secret, method, path, json === undefined ? {} : { json });

/** Waits until the change record is posted (the reviewer set is resolved then). */
const posted = (id: string) => eventually(() => changeRecord(t.slack, id), 10_000);

describe('/metrics', () => {
  test('parses as Prometheus text, and its counters move as people and agents act', async () => {
    // Setup: every bypass kind is exported from the start, at zero.
    const before = await scrape();
    for (const kind of ['self_approval', 'non_reviewer', 'replay', 'late_vote', 'bad_signature']) {
      expect(valueOf(before, 'countersign_bypass_attempts_total', { kind })).toBe(0);
    }
    expect(before.find((f) => f.name === 'countersign_approval_latency_seconds')?.type).toBe('histogram');

    // Execution 1: one allowed action, one that needs two security reviewers.
    const staging = await requestGate(t, 'k8s-deploy-staging', 'deploy-bot');
    const iam = await requestGate(t, 'iam-attach-admin-policy', 'iam-agent');
    const afterCreate = await scrape();
    expect(valueOf(afterCreate, 'countersign_gates_created_total', { action: 'k8s.deploy', decision: 'allow' })).toBe(1);
    expect(valueOf(afterCreate, 'countersign_gates_created_total', { action: 'iam.attach_role_policy', decision: 'review' })).toBe(1);
    expect(valueOf(afterCreate, 'countersign_actions_total', { needed_human: 'true' })).toBe(1);
    expect(valueOf(afterCreate, 'countersign_actions_total', { needed_human: 'false' })).toBe(1);
    expect(valueOf(afterCreate, 'countersign_human_review_share', { window: '7d' })).toBe(0.5);

    // Execution 2: bypass attempts of every kind.
    const forged = await agentCall('iam-agent', 'GET', `/v1/gates/${iam.id}`, undefined, 'whsec_' + Buffer.alloc(32, 7).toString('base64'));
    expect(forged.status).toBe(401);
    await posted(iam.id);
    await approve(t, iam.id, 'kenji'); // not a security reviewer
    await eventually(() => ephemeralsFor(t.slack, 'kenji').some((e) => e.includes('not in the reviewer set')));
    const terraform = await requestGate(t, 'terraform-apply-prod', 'terraform-bot');
    await posted(terraform.id);
    await approve(t, terraform.id, 'ana'); // asked on her behalf
    await eventually(() => ephemeralsFor(t.slack, 'ana').some((e) => e.includes('on your behalf')));

    // Execution 3: two approvals, a grant, and a second redeem (a replay).
    await approve(t, iam.id, 'grace');
    await approve(t, iam.id, 'omar');
    await eventually(async () => (await t.app.ctx.store.read(iam.id))!.state === 'approved');
    const hash = evidenceHash(example('iam-attach-admin-policy') as unknown as Record<string, unknown>);
    expect((await agentCall('iam-agent', 'POST', `/v1/gates/${iam.id}/redeem`, { evidenceHash: hash })).status).toBe(200);
    expect((await agentCall('iam-agent', 'POST', `/v1/gates/${iam.id}/redeem`, { evidenceHash: hash })).status).toBe(409);

    // Execution 4: a denial of a high-risk change, and evidence drift on the staging deploy.
    await deny(t, terraform.id, 'elena', 'wrong instance class');
    await eventually(async () => (await t.app.ctx.store.read(terraform.id))!.state === 'denied');
    const drifted = await agentCall('deploy-bot', 'POST', `/v1/gates/${staging.id}/redeem`, { evidenceHash: `sha256:${'0'.repeat(64)}` });
    expect(drifted.body.code).toBe('ERR_EVIDENCE_DRIFT');

    // Validation
    const after = await scrape();
    expect(valueOf(after, 'countersign_bypass_attempts_total', { kind: 'bad_signature' })).toBe(1);
    expect(valueOf(after, 'countersign_bypass_attempts_total', { kind: 'non_reviewer' })).toBe(1);
    expect(valueOf(after, 'countersign_bypass_attempts_total', { kind: 'self_approval' })).toBe(1);
    expect(valueOf(after, 'countersign_bypass_attempts_total', { kind: 'replay' })).toBe(1);
    expect(valueOf(after, 'countersign_gate_outcomes_total', { action: 'iam.attach_role_policy', outcome: 'approved' })).toBe(1);
    expect(valueOf(after, 'countersign_gate_outcomes_total', { action: 'iam.attach_role_policy', outcome: 'redeemed' })).toBe(1);
    expect(valueOf(after, 'countersign_gate_outcomes_total', { action: 'terraform.apply', outcome: 'denied' })).toBe(1);
    expect(valueOf(after, 'countersign_approval_latency_seconds_count', { action: 'iam.attach_role_policy', decision: 'approve' })).toBe(1);
    expect(valueOf(after, 'countersign_approval_latency_seconds_count', { action: 'terraform.apply', decision: 'deny' })).toBe(1);
    expect(valueOf(after, 'countersign_denied_high_risk_total', { action: 'terraform.apply', by: 'reviewer' })).toBe(1);
    expect(valueOf(after, 'countersign_evidence_drift_total', { action: 'k8s.deploy' })).toBe(1);
    expect(valueOf(after, 'countersign_human_review_share', { window: '7d' })).toBeCloseTo(2 / 3, 5);
  });

  test('an agent-chosen action name is not a new label value', async () => {
    const answer = await agentCall('demo-agent', 'POST', '/v1/gates', { ...example('k8s-deploy-staging'), action: 'x.never-catalogued-action' });
    expect(answer.status).toBe(201);
    const families = await scrape();
    const labels = families.flatMap((f) => f.samples.map((s) => s.labels.action)).filter(Boolean);
    expect(labels).not.toContain('x.never-catalogued-action');
    expect(labels).toContain('unknown');
  });

  test('a malformed exposition is refused by the parser (it can fail)', () => {
    expect(() => parsePrometheusText('countersign_x 1\n')).toThrow(/no TYPE/);
    expect(() => parsePrometheusText('# TYPE a counter\na{b="c} 1\n')).toThrow(/unterminated/);
    expect(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\nh_sum 1\n')).toThrow(/cumulative/);
  });
});
