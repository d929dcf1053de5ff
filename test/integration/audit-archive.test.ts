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
    // verify checks from the base and says which records it did not check; the old head is still there.
    const plain = await cli(auditCommand, ['verify', '--anchor', oldHead]);
    expect(plain.code).toBe(0);
    expect(plain.out).toContain(`note: records 1–${firstOfWaiting} are not in Redis: archived by \`audit archive\`, or removed by someone who also wrote the chain's base`);
    expect(plain.out).toMatch(new RegExp(`OK: \\d+ deployment records \\(records ${firstOfWaiting + 1}–\\d+; 1–${firstOfWaiting} archived, not checked\\)`));
    // An anchor inside the archive cannot be checked without the file: unchecked is not OK.
    const verified = await cli(auditCommand, ['verify', '--anchor', oldHead, '--anchor', `${lines[0]!.pos}:${lines[0]!.hash}`]);
    expect(verified.out).toMatch(/0 problems, 1 anchor unchecked/);
    expect(verified.out).toContain(`UNCHECKED anchor ${lines[0]!.pos} lies in the archived part (records 1–${firstOfWaiting})`);
    expect(verified.code).toBe(1);
    // With the archive file given, its records are checked to chain up to the base, and anchors in it against it.
    const withArchive = await cli(auditCommand, ['verify', '--archive', out, '--anchor', `${lines[0]!.pos}:${lines[0]!.hash}`]);
    expect(withArchive.out).toMatch(/0 problems\n/);
    expect(withArchive.out).toContain(`1–${firstOfWaiting} archived, checked against the archive files`);
    expect(withArchive.out).not.toContain('UNCHECKED');
    expect(withArchive.code).toBe(0);
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
    // The old head is archived now: only the files can prove it.
    expect((await cli(auditCommand, ['verify', '--anchor', oldHead])).code).toBe(1);
    const full = await cli(auditCommand, ['verify', '--archive', out, '--archive', join(dir, 'third.ndjson'), '--anchor', oldHead]);
    expect(full.out).toMatch(/0 problems\n/);
    expect(full.code).toBe(0);
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

  test('a prefix cut from the chain with a base written in its place, no archive ever made, fails verify against a published head', async () => {
    // Setup: a finished and retired gate, an admin record, a published head, then a live gate.
    const gone = await cancelled();
    await t.app.admin.audit.admin({ event: 'admin', actor: 'slack:UADMIN', at: Date.now(), command: 'break-glass', args: { gateId: gone }, result: 'approved' });
    await retireAll();
    await t.app.admin.audit.flush();
    const published = (await cli(auditCommand, ['head'])).out.trim();
    await createGate(t, 'terraform-bot', example('terraform-apply-prod'));
    await t.app.admin.audit.flush();
    expect((await cli(auditCommand, ['verify', '--anchor', published])).code).toBe(0);
    const [pos, hash] = published.split(':') as [string, string];
    const base = JSON.parse((await t.redis.get(AUDIT_KEYS.base)) ?? '{"pos":0}') as { pos: number };

    // Execution: someone who can write Redis drops every record up to the published head and
    // writes a base there, as an archive would.
    await t.redis.ltrim(AUDIT_KEYS.log, Number(pos) - base.pos, -1);
    await t.redis.set(AUDIT_KEYS.base, JSON.stringify({ pos: Number(pos), hash }));

    // Validation: the published head is not taken on the base's word; a plain verify says what it did not check.
    const anchored = await cli(auditCommand, ['verify', '--anchor', published]);
    expect(anchored.code).toBe(1);
    expect(anchored.out).toContain(`UNCHECKED anchor ${pos} lies in the archived part (records 1–${pos})`);
    const plain = await cli(auditCommand, ['verify']);
    expect(plain.out).toContain(`note: records 1–${pos} are not in Redis`);
    expect(plain.out).toContain(`1–${pos} archived, not checked`);
  });
});
