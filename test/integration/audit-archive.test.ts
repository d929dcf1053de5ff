import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_KEYS } from '../../src/adapters/audit/keys.js';
import { GateRetention } from '../../src/adapters/audit/retention.js';
import { auditCommand, traceCommand, type AuditIo } from '../../src/cli/audit.js';
import { example } from '../support/gates.js';
import { testRedisUrl } from '../support/redis.js';
import { as, createGate, startExecutionApp, type ExecutionApp } from './execution-fixtures.js';

// The deployment chain is trimmed by archiving its oldest part to a file: only a prefix made of
// retired gates and admin records goes, and verify, trace and anchors keep working on the rest.

const DAY = 86_400_000;
let t: ExecutionApp;
const dir = mkdtempSync(join(tmpdir(), 'countersign-archive-'));

beforeAll(async () => {
  t = await startExecutionApp();
});
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(run: (args: string[], io: AuditIo) => Promise<number>, args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  // The CLI's clock a second ahead: `archive` takes records logged before its now, and the last
  // record may have been logged in the very millisecond the command starts.
  const io: AuditIo = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: { REDIS_URL: testRedisUrl() }, now: () => Date.now() + 1_000 };
  return { code: await run(args, io), out, err };
}

async function cancelled(): Promise<string> {
  const gate = await createGate(t, 'deploy-bot', example('k8s-deploy-staging'));
  expect((await as(t, 'deploy-bot', 'POST', `/v1/gates/${gate.id}/cancel`, { json: {} })).status).toBe(200);
  return gate.id;
}

async function retireAll(): Promise<void> {
  await t.app.admin.audit.flush();
  await new GateRetention(t.redis, { store: t.app.ctx.store, audit: t.app.admin.audit, now: () => Date.now() + 31 * DAY, retentionMs: 30 * DAY }).retireDue();
}

const chain = async () => (await t.redis.lrange(AUDIT_KEYS.log, 0, -1)).map((r) => JSON.parse(r) as { pos: number; gateId: string; kind: string; hash: string });

describe('audit archive', () => {
  test('moves the prefix of retired gates to a file; verify, anchors and trace work on what stays', async () => {
    // Setup: two gates retired, then one still waiting, then one more retired after it.
    const a = await cancelled();
    const b = await cancelled();
    await retireAll();
    const waiting = await createGate(t, 'terraform-bot', example('terraform-apply-prod'));
    const d = await cancelled();
    await retireAll();
    await t.app.admin.audit.flush();
    const before = await chain();
    const oldHead = (await cli(auditCommand, ['head'])).out.trim();
    const firstOfWaiting = before.findIndex((r) => r.gateId === waiting.id);
    expect(firstOfWaiting).toBeGreaterThan(0);

    // Execution
    const out = join(dir, 'first.ndjson');
    const archived = await cli(auditCommand, ['archive', '--out', out]);

    // Validation: exactly the records before the waiting gate's first one left Redis, into the file.
    expect(archived.code).toBe(0);
    expect(archived.out).toContain(`archived records 1–${firstOfWaiting} (${firstOfWaiting} records, 2 retired gates)`);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { pos: number; gateId: string; hash: string });
    expect(lines.map((l) => l.pos)).toEqual(before.slice(0, firstOfWaiting).map((r) => r.pos));
    expect(new Set(lines.map((l) => l.gateId).filter(Boolean))).toEqual(new Set([a, b]));
    const after = await chain();
    expect(after.map((r) => r.pos)).toEqual(before.slice(firstOfWaiting).map((r) => r.pos));
    expect(JSON.parse((await t.redis.get(AUDIT_KEYS.base))!)).toEqual({ pos: lines.at(-1)!.pos, hash: lines.at(-1)!.hash });
    // verify checks from the base; the old head is still there; an anchor inside the archive is noted, not failed.
    const verified = await cli(auditCommand, ['verify', '--anchor', oldHead, '--anchor', `${lines[0]!.pos}:${lines[0]!.hash}`]);
    expect(verified.out).toMatch(/0 problems/);
    expect(verified.out).toContain(`note: anchor ${lines[0]!.pos} lies in the archived part`);
    expect(verified.code).toBe(0);
    // With the archive file given, its records are checked to chain up to the base, and anchors in it against it.
    const withArchive = await cli(auditCommand, ['verify', '--archive', out, '--anchor', `${lines[0]!.pos}:${lines[0]!.hash}`]);
    expect(withArchive.out).toMatch(/0 problems/);
    expect(withArchive.out).not.toContain('note: anchor');
    const forged = join(dir, 'forged.ndjson');
    writeFileSync(forged, readFileSync(out, 'utf8').replace(/"loggedAt":\d+/, '"loggedAt":1'));
    const forgedAnswer = await cli(auditCommand, ['verify', '--archive', forged]);
    expect(forgedAnswer.code).toBe(1);
    expect(forgedAnswer.out).toContain('in the archive:');
    // trace of the gate retired after the waiting one still reads its copies.
    const traced = await cli(traceCommand, [d]);
    expect(traced.out).toMatch(new RegExp(`gate ${d} · cancelled \\(retired\\) · 2 audit links · chain intact`));
    // A record right after the base altered: still caught.
    const first = (await t.redis.lindex(AUDIT_KEYS.log, 0))!;
    await t.redis.lset(AUDIT_KEYS.log, 0, first.replace(/"loggedAt":\d+/, '"loggedAt":1'));
    try {
      expect((await cli(auditCommand, ['verify'])).code).toBe(1);
    } finally {
      await t.redis.lset(AUDIT_KEYS.log, 0, first);
    }

    // Nothing more is archivable while the waiting gate lives; once it is retired, the rest goes too.
    const again = await cli(auditCommand, ['archive', '--out', join(dir, 'second.ndjson')]);
    expect(again.out).toMatch(/^nothing to archive/);
    expect((await as(t, 'terraform-bot', 'POST', `/v1/gates/${waiting.id}/cancel`, { json: {} })).status).toBe(200);
    await retireAll();
    const rest = await cli(auditCommand, ['archive', '--out', join(dir, 'third.ndjson')]);
    expect(rest.code).toBe(0);
    expect(rest.out).toContain(`archived records ${firstOfWaiting + 1}–`);
    expect(await t.redis.llen(AUDIT_KEYS.log)).toBe(0);
    expect((await cli(auditCommand, ['verify', '--anchor', oldHead])).code).toBe(0);
    expect((await cli(auditCommand, ['verify', '--archive', out, '--archive', join(dir, 'third.ndjson'), '--anchor', oldHead])).out).toMatch(/0 problems/);
    const missing = await cli(auditCommand, ['verify', '--archive', join(dir, 'third.ndjson')]);
    expect(missing.code).toBe(1);
    expect(missing.out).toContain('in the archive: expected record 1 after 000000000000…');
    // New records chain on from the base.
    await cancelled();
    await t.app.admin.audit.flush();
    expect((await cli(auditCommand, ['verify'])).out).toMatch(/0 problems/);
  });

  test('an existing file is never overwritten; --before takes a time', async () => {
    const out = join(dir, 'exists.ndjson');
    writeFileSync(out, 'keep me\n');
    const refused = await cli(auditCommand, ['archive', '--out', out]);
    expect(refused.code).toBe(2);
    expect(readFileSync(out, 'utf8')).toBe('keep me\n');
    expect((await cli(auditCommand, ['archive', '--out', join(dir, 'x.ndjson'), '--before', 'yesterday'])).code).toBe(2);
    const old = await cli(auditCommand, ['archive', '--out', join(dir, 'y.ndjson'), '--before', '30d']);
    expect(old.out).toMatch(/^nothing to archive/);
  });
});
