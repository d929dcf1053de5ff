import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { AUDIT_KEYS } from '../../src/adapters/audit/keys.js';
import { gateKeys } from '../../src/adapters/redis/keys.js';
import { auditCommand } from '../../src/cli/audit.js';
import { example } from '../support/gates.js';
import { runAuditCli } from '../support/audit-cli.js';
import { eventually } from '../support/slack.js';
import { approveInSlack, as, createGate, redeem, redeemedGate, SECURITY_REVIEWERS, startExecutionApp, type ExecutionApp } from './execution-fixtures.js';

// Every link of a gate's chain reaches the deployment chain, also the last ones of a finished
// gate (which changes no more) and those no state change announces: once copied, cutting a link
// from the gate's chain is seen by verify.

let t: ExecutionApp;
beforeAll(async () => {
  t = await startExecutionApp();
});
afterAll(async () => {
  await t.close();
});

const verify = () => runAuditCli(auditCommand, ['verify']);

const copiedUpTo = async (gateId: string) => Number((await t.redis.hget(AUDIT_KEYS.copied, gateId)) ?? '0');

describe('copies to the deployment chain', () => {
  test('a copy that fails (Redis refuses the append for a moment) is tried again until it lands', async () => {
    const gate = await redeemedGate(t);
    await t.app.admin.audit.flush();
    // The append fails while the head key holds the wrong type (as any Redis error would).
    const head = (await t.redis.get(AUDIT_KEYS.head))!;
    await t.redis.del(AUDIT_KEYS.head);
    await t.redis.hset(AUDIT_KEYS.head, 'broken', '1');
    const outcome = await as(t, 'iam-agent', 'POST', `/v1/gates/${gate.id}/outcome`, { json: { status: 'succeeded', calls: [{ action: 'iam.attach_role_policy', status: 200 }] } });
    expect(outcome.status).toBe(200);
    await t.app.admin.audit.flush();
    const chain = await t.app.ctx.store.auditTrail(gate.id);
    expect(JSON.parse(chain.at(-1)!.entry).event).toBe('complete');
    expect(await copiedUpTo(gate.id)).toBe(chain.length - 1);
    // Redis answers again: the finished gate's last link is copied without any further change.
    await t.redis.del(AUDIT_KEYS.head);
    await t.redis.set(AUDIT_KEYS.head, head);
    await eventually(async () => (await copiedUpTo(gate.id)) === chain.length, 5_000);
    // Cutting the outcome from the gate's chain is now tampering that verify names.
    await t.redis.rpop(gateKeys(gate.id).audit);
    const after = await verify();
    expect(after.code).toBe(1);
    expect(after.out).toContain(`gate ${gate.id} has no link ${chain.length} any more`);
    await t.redis.rpush(gateKeys(gate.id).audit, JSON.stringify(chain.at(-1)));
    expect((await verify()).code).toBe(0);
  });

  test('a grant handed out again to a retried redeem is copied too', async () => {
    const gate = await createGate(t, 'iam-agent', example('iam-attach-admin-policy'));
    await approveInSlack(t, gate.id, SECURITY_REVIEWERS);
    const key = { 'idempotency-key': 'retry-key-0001' };
    expect((await redeem(t, 'iam-agent', gate.id, gate.hash, key)).status).toBe(200);
    await t.app.admin.audit.flush();
    const again = await redeem(t, 'iam-agent', gate.id, gate.hash, key);
    expect(again.status).toBe(200);
    const chain = await t.app.ctx.store.auditTrail(gate.id);
    expect(JSON.parse(chain.at(-1)!.entry).event).toBe('grant_redelivered');
    await t.app.admin.audit.flush();
    expect(await copiedUpTo(gate.id)).toBe(chain.length);
    await t.redis.rpop(gateKeys(gate.id).audit);
    expect((await verify()).code).toBe(1);
    await t.redis.rpush(gateKeys(gate.id).audit, JSON.stringify(chain.at(-1)));
  });
});
