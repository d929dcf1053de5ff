import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { gateKeys } from '../../src/adapters/redis/keys.js';
import { auditCommand, traceCommand } from '../../src/cli/audit.js';
import { example } from '../support/gates.js';
import { runAuditCli } from '../support/audit-cli.js';
import { createGate, redeem, SECURITY_REVIEWERS, startExecutionApp, type ExecutionApp } from './execution-fixtures.js';

// A gate's state and its chain must agree: a state written around the scripts (by someone with
// Redis access) leaves no link, and verify must say so.

let t: ExecutionApp;
beforeAll(async () => {
  t = await startExecutionApp();
});
afterAll(async () => {
  await t.close();
});

const cli = runAuditCli;

async function forceApproved(gateId: string): Promise<void> {
  const [a, b] = SECURITY_REVIEWERS;
  const now = Date.now();
  await t.redis.hset(gateKeys(gateId).votes, a!.id, JSON.stringify({ voter: a!.id, vote: 'approve', at: now, team: 'security' }), b!.id, JSON.stringify({ voter: b!.id, vote: 'approve', at: now, team: 'security' }));
  // Forged as a whole: votes alone would not do, redeem counts only those of recorded reviewers.
  await t.redis.hset(gateKeys(gateId).reviewers, a!.id, 'security', b!.id, 'security');
  await t.redis.hset(gateKeys(gateId).gate, 'state', 'approved', 'executionDeadline', now + 600_000);
}

describe('audit verify compares each gate with its chain', () => {
  test('a waiting gate set to approved with HSET: verify names the state its chain does not explain', async () => {
    const gate = await createGate(t, 'iam-agent', example('iam-attach-admin-policy'));
    expect(gate.state).toBe('pending_review');
    expect((await cli(auditCommand, ['verify'])).code).toBe(0);
    await forceApproved(gate.id);
    const verify = await cli(auditCommand, ['verify']);
    expect(verify.code).toBe(1);
    expect(verify.out).toContain(`gate ${gate.id}`);
    expect(verify.out).toContain('state mismatch — the gate is approved, but its chain ends in pending_review');
    // Put back, the chain verifies again: the check reads state and chain together.
    await t.redis.hset(gateKeys(gate.id).gate, 'state', 'pending_review');
    await t.redis.del(gateKeys(gate.id).votes);
    expect((await cli(auditCommand, ['verify'])).code).toBe(0);
  });

  test('redeemed after such an approval: the chain has a move from a state no link reached', async () => {
    const gate = await createGate(t, 'iam-agent', example('iam-attach-admin-policy'));
    await forceApproved(gate.id);
    const redeemed = await redeem(t, 'iam-agent', gate.id, gate.hash);
    expect(redeemed.status).toBe(200);
    await t.app.admin.audit.flush();
    const chain = await t.app.ctx.store.auditTrail(gate.id);
    expect(chain.map((l) => [l.from, l.to])).toEqual([
      ['', 'pending_review'],
      ['approved', 'redeemed'],
    ]);
    const verify = await cli(auditCommand, ['verify']);
    expect(verify.code).toBe(1);
    expect(verify.out).toContain('broken transition — the link moves the gate from approved, but the link before left it pending_review');
    expect((await cli(traceCommand, [gate.id])).code).not.toBe(0);
  });
});
