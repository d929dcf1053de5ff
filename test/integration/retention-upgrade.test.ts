import { describe, expect, test } from '@jest/globals';
import { GateRetention } from '../../src/adapters/audit/retention.js';
import { gateKeys, RETIRE_INDEX } from '../../src/adapters/redis/keys.js';
import { example } from '../support/gates.js';
import { as, createGate, startExecutionApp } from './execution-fixtures.js';
import { startTestApp } from '../support/app.js';

// Gates that finished while no process indexed them (before the release that brought retention,
// or while COUNTERSIGN_RETENTION_DAYS=forever) are found by the backfill and retired like others.

const DAY = 86_400_000;

describe('retention turned on later', () => {
  test('a gate finished under `forever` is found and retired once retention is switched on', async () => {
    // Setup: a deployment that keeps gates forever; a gate is cancelled there.
    const before = await startExecutionApp({ COUNTERSIGN_RETENTION_DAYS: 'forever' });
    const gate = await createGate(before, 'deploy-bot', example('k8s-deploy-staging'));
    expect((await as(before, 'deploy-bot', 'POST', `/v1/gates/${gate.id}/cancel`, { json: {} })).status).toBe(200);
    expect(await before.app.background.queues.timers.getJobScheduler('retire')).toBeUndefined();
    await before.close();

    // Execution: the deployment switches to 30 days (same Redis, not flushed), and the pass runs a year later.
    const after = await startTestApp({ env: { COUNTERSIGN_RETENTION_DAYS: '30' }, flush: false });
    expect(await after.redis.hget(gateKeys(gate.id).gate, 'state')).toBe('cancelled');
    try {
      expect(await after.app.background.queues.timers.getJobScheduler('retire')).toMatchObject({ name: 'retire' });
      const pass = new GateRetention(after.redis, { store: after.app.ctx.store, audit: after.app.admin.audit, now: () => Date.now() + 365 * DAY, retentionMs: 30 * DAY });
      expect(await pass.retireDue()).toMatchObject({ retired: 1 });

      // Validation
      expect(await after.redis.exists(...Object.values(gateKeys(gate.id)))).toBe(0);
    } finally {
      await after.close();
    }
  });
});
