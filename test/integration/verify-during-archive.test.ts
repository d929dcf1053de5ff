import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { example } from '../support/gates.js';
import { createGate, startExecutionApp, type ExecutionApp } from './execution-fixtures.js';

// audit verify while audit archive trims the chain (its own file: it needs a chain whose prefix
// holds only retired gates).

let t: ExecutionApp;
beforeAll(async () => {
  t = await startExecutionApp();
});
afterAll(async () => {
  await t.close();
});

describe('audit verify running while audit archive trims the chain', () => {
  test('reports no tampering: it checks again on the archived chain', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { GateRetention } = await import('../../src/adapters/audit/retention.js');
    const { archiveAudit } = await import('../../src/adapters/audit/archive.js');
    const { verifyAudit } = await import('../../src/adapters/audit/verify.js');
    const { as } = await import('./execution-fixtures.js');
    // Setup: finished gates retired (retention over), so a prefix of the chain can be archived.
    for (let i = 0; i < 3; i += 1) {
      const g = await createGate(t, 'deploy-bot', example('k8s-deploy-staging'));
      expect((await as(t, 'deploy-bot', 'POST', `/v1/gates/${g.id}/cancel`, { json: {} })).status).toBe(200);
    }
    await t.app.admin.audit.flush();
    await new Promise((r) => setTimeout(r, 400));
    const DAY = 86_400_000;
    await new GateRetention(t.redis, { store: t.app.ctx.store, audit: t.app.admin.audit, now: () => Date.now() + 40 * DAY, retentionMs: 30 * DAY }).retireDue();
    await t.app.admin.audit.flush();
    const clean = await verifyAudit(t.redis);
    expect(clean.problems).toEqual([]);

    // Execution: verify takes its snapshot, then an operator's archive trims the prefix before verify pages through the list.
    const dir = mkdtempSync(join(tmpdir(), 'cs-archive-'));
    const out = join(dir, 'a.ndjson');
    let archived: unknown;
    const racing = new Proxy(t.redis, {
      get(target, name, receiver) {
        if (name === 'lrange' && archived === undefined) {
          return async (...args: Parameters<typeof target.lrange>) => {
            archived = await archiveAudit(target, { before: Date.now() + 1_000, out });
            return target.lrange(...args);
          };
        }
        const value = Reflect.get(target, name, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const report = await verifyAudit(racing as typeof t.redis);
    rmSync(dir, { recursive: true, force: true });

    // Validation: the archive did its job, and the overlapping verify says the chain is intact.
    expect((archived as { kind: string }).kind).toBe('archived');
    expect((await verifyAudit(t.redis)).problems).toEqual([]);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });
});
