import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_KEYS } from '../../src/adapters/audit/keys.js';
import { entryDigest } from '../../src/adapters/audit/deployment-chain.js';
import { DeploymentAuditLog } from '../../src/adapters/audit/deployment-log.js';
import { gateKeys } from '../../src/adapters/redis/keys.js';
import type { AuditLink } from '../../src/core/audit-chain.js';
import type { Gate } from '../../src/core/gate.js';
import { auditCommand, traceCommand, type AuditIo } from '../../src/cli/audit.js';
import { example, pendingGateInput } from '../support/gates.js';
import { testRedisUrl } from '../support/redis.js';
import { eventually } from '../support/slack.js';
import { Redis } from 'ioredis';
import { as, createGate, introspect, redeem, redeemedGate, startExecutionApp, type ExecutionApp } from './execution-fixtures.js';

let t: ExecutionApp;
/** A gate that went the whole way: request → two approvals → grant → consumed → outcome. */
let full: { id: string; jti: string };

beforeAll(async () => {
  t = await startExecutionApp();
  const gate = await redeemedGate(t);
  expect((await introspect(t, 'iam-broker', gate.grant)).body.active).toBe(true);
  const outcome = await as(t, 'iam-agent', 'POST', `/v1/gates/${gate.id}/outcome`, {
    json: {
      status: 'succeeded',
      summary: 'policy attached',
      calls: [{ action: 'iam.attach_role_policy', target: 'arn:aws:iam::111122223333:role/ci-deployer', method: 'AttachRolePolicy', status: 200 }],
    },
  });
  expect(outcome.status).toBe(200);
  full = { id: gate.id, jti: gate.jti };
  // A few more gates, so that the chains interleave.
  await createGate(t, 'deploy-bot', example('k8s-deploy-staging'));
  await createGate(t, 'terraform-bot', example('terraform-apply-prod'));
  // Copies to the deployment chain run behind the requests: let them land.
  await t.app.admin.audit.flush();
});
afterAll(async () => {
  await t.close();
});

/** Runs a CLI command against this file's Redis; returns its exit code and output. */
async function cli(run: (args: string[], io: AuditIo) => Promise<number>, args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: AuditIo = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: { REDIS_URL: testRedisUrl() }, now: Date.now };
  const code = await run(args, io);
  return { code, out, err };
}
const verify = () => cli(auditCommand, ['verify']);

/** Changes one stored element of a list and returns a function that puts it back. */
async function tamper(key: string, index: number, change: (text: string) => string): Promise<() => Promise<void>> {
  const original = (await t.redis.lindex(key, index))!;
  await t.redis.lset(key, index, change(original));
  return async () => {
    await t.redis.lset(key, index, original);
  };
}

describe('the deployment chain copy', () => {
  test('a gate created and moved before the copy ran has every link copied, in order', async () => {
    // Setup: a gate the policy lets through, withdrawn by its agent at once.
    const gate = await createGate(t, 'deploy-bot', example('k8s-deploy-staging'));
    const cancelled = await as(t, 'deploy-bot', 'POST', `/v1/gates/${gate.id}/cancel`, { json: { reason: 'superseded' } });
    expect(cancelled.status).toBe(200);
    // Execution
    await t.app.admin.audit.flush();
    // Validation: both of its links are in the deployment chain, as the gate's chain has them.
    const records = (await t.redis.lrange(AUDIT_KEYS.log, 0, -1)).map((r) => JSON.parse(r) as { gateId: string; seq: number; gateHash: string; entry: string });
    const mine = records.filter((r) => r.gateId === gate.id);
    const chain = await t.app.ctx.store.auditTrail(gate.id);
    expect(mine.map((r) => [r.seq, r.gateHash, r.entry])).toEqual(chain.map((l) => [l.seq, l.hash, l.entry]));
    expect(chain.map((l) => l.to)).toEqual(['approved', 'cancelled']);
    expect((await verify()).code).toBe(0);
  });
});

describe('audit verify', () => {
  beforeEach(async () => {
    expect((await verify()).code).toBe(0);
  });

  test('an intact deployment verifies', async () => {
    const { code, out } = await verify();
    expect(code).toBe(0);
    // The three gates of the setup and the one of 'the deployment chain copy' above.
    expect(out).toMatch(/^OK: \d+ deployment records, 4 gates, \d+ gate links checked; 0 problems/m);
  });

  test('a modified gate entry is named by gate and seq', async () => {
    // Execution: rewrite who approved, in the gate's own chain (link 5: the redeem, naming the approvers).
    const key = `cs:{g:${full.id}}:audit`;
    const restore = await tamper(key, 4, (text) => {
      const link = JSON.parse(text);
      link.entry = link.entry.replace('U07DMEN2KHV', 'U0ATTACKER1');
      return JSON.stringify(link);
    });
    const { code, out } = await verify();
    await restore();
    // Validation
    expect(code).toBe(1);
    expect(out).toContain(`TAMPERED gate ${full.id} link at position 5 (seq 5): modified`);
    expect(out).toMatch(/^FAILED/m);
  });

  test("a gate's stored request changed outside the chain (what trace shows as granted) is caught by its evidence hash", async () => {
    // Execution: rewrite the resource and the requester in the gate's record (outside its chain).
    const key = `cs:{g:${full.id}}:gate`;
    const record = (await t.redis.hget(key, 'record'))!;
    await t.redis.hset(key, 'record', record.replace('role/ci-deployer', 'role/harmless').replace('sam.okafor@example.com', 'eve@example.com'));
    try {
      const verified = await verify();
      const traced = await cli(traceCommand, [full.id]);
      // Validation
      expect(verified.code).toBe(1);
      expect(verified.out).toMatch(new RegExp(`TAMPERED gate ${full.id} link at position 1 \\(seq 1\\): mismatch — the gate's stored request hashes to sha256:[0-9a-f]{12}…, but its chain recorded sha256:`));
      expect(traced.out).not.toContain('chain intact');
      expect(traced.out).toContain("the gate's stored request hashes to");
    } finally {
      await t.redis.hset(key, 'record', record);
    }
  });

  test('a gate entry rewritten with fresh hashes is caught by the deployment chain', async () => {
    // A careful attacker recomputes the link's digest; the gate chain's next link and the
    // deployment chain's copy still disagree.
    const key = `cs:{g:${full.id}}:audit`;
    const restore = await tamper(key, 0, (text) => {
      const link = JSON.parse(text);
      link.entry = link.entry.replace('sam.okafor@example.com', 'eve@example.com');
      link.digest = entryDigest(link.entry);
      return JSON.stringify(link);
    });
    const { code, out } = await verify();
    await restore();
    expect(code).toBe(1);
    expect(out).toContain(`gate ${full.id} link at position 1 (seq 1): bad link`);
    expect(out).toContain(`(gate ${full.id} seq 1): mismatch`);
  });

  test('a modified, a removed and a reordered deployment record are each named by position', async () => {
    // Modified
    const restore = await tamper(AUDIT_KEYS.log, 2, (text) => {
      const r = JSON.parse(text);
      r.entry = r.entry.replace('"at":', '"at":1');
      return JSON.stringify(r);
    });
    const modified = await verify();
    await restore();
    expect(modified.code).toBe(1);
    expect(modified.out).toMatch(/TAMPERED deployment chain record 3 .*: modified/);

    // Removed: the record at position 4 disappears.
    const removed = (await t.redis.lindex(AUDIT_KEYS.log, 3))!;
    await t.redis.lrem(AUDIT_KEYS.log, 1, removed);
    const afterRemoval = await verify();
    await t.redis.linsert(AUDIT_KEYS.log, 'BEFORE', (await t.redis.lindex(AUDIT_KEYS.log, 3))!, removed);
    expect(afterRemoval.code).toBe(1);
    expect(afterRemoval.out).toMatch(/TAMPERED deployment chain record 4 .*: removed or reordered — expected record 4 .* found record 5/);

    // Reordered: records 2 and 3 swap places.
    const [second, third] = [(await t.redis.lindex(AUDIT_KEYS.log, 1))!, (await t.redis.lindex(AUDIT_KEYS.log, 2))!];
    await t.redis.lset(AUDIT_KEYS.log, 1, third);
    await t.redis.lset(AUDIT_KEYS.log, 2, second);
    const reordered = await verify();
    await t.redis.lset(AUDIT_KEYS.log, 1, second);
    await t.redis.lset(AUDIT_KEYS.log, 2, third);
    expect(reordered.code).toBe(1);
    expect(reordered.out).toMatch(/TAMPERED deployment chain record 2 .*: removed or reordered/);
  });

  test('cutting off the end of either chain is noticed', async () => {
    const last = (await t.redis.rpop(AUDIT_KEYS.log))!;
    const cut = await verify();
    await t.redis.rpush(AUDIT_KEYS.log, last);
    expect(cut.code).toBe(1);
    expect(cut.out).toMatch(/TAMPERED deployment chain record \d+: removed — the chain's head/);

    const key = `cs:{g:${full.id}}:audit`;
    const lastLink = (await t.redis.rpop(key))!;
    const cutGate = await verify();
    await t.redis.rpush(key, lastLink);
    expect(cutGate.code).toBe(1);
    expect(cutGate.out).toContain(`gate ${full.id} seq 7): removed`);
  });

  test('deleting the whole deployment chain with its head is noticed: the copy watermarks still name what was copied', async () => {
    const [log, head] = await Promise.all([t.redis.lrange(AUDIT_KEYS.log, 0, -1), t.redis.get(AUDIT_KEYS.head)]);
    await t.redis.del(AUDIT_KEYS.log, AUDIT_KEYS.head);
    const gone = await verify();
    await t.redis.rpush(AUDIT_KEYS.log, ...log);
    await t.redis.set(AUDIT_KEYS.head, head!);
    expect(gone.code).toBe(1);
    expect(gone.out).toContain(`gate ${full.id} seq 1): removed — gate ${full.id} was copied up to link 7, but the deployment chain holds none of its links`);
  });

  test('admin records cut from the end together with the head pass a plain verify, but not one against a published head', async () => {
    // Setup: two admin actions at the end of the chain, and the head as the periodic log line publishes it.
    await t.app.admin.audit.admin({ event: 'freeze', actor: 'slack:U0439ZZZZG4', at: Date.now(), pattern: 'prod*' });
    await t.app.admin.audit.admin({ event: 'unfreeze', actor: 'slack:U0439ZZZZG4', at: Date.now(), pattern: 'prod*' });
    const head = await cli(auditCommand, ['head']);
    expect(head.code).toBe(0);
    const published = head.out.trim();
    expect(published).toMatch(/^\d+:[0-9a-f]{64}$/);
    expect((await cli(auditCommand, ['verify', '--anchor', published])).code).toBe(0);

    // Execution: both records removed, and the stored head moved back to the record before them (admin records have no watermark).
    const [unfreeze, freeze] = [(await t.redis.rpop(AUDIT_KEYS.log))!, (await t.redis.rpop(AUDIT_KEYS.log))!];
    const before = JSON.parse((await t.redis.lindex(AUDIT_KEYS.log, -1))!) as { pos: number; hash: string };
    const storedHead = (await t.redis.get(AUDIT_KEYS.head))!;
    await t.redis.set(AUDIT_KEYS.head, JSON.stringify({ pos: before.pos, hash: before.hash }));
    try {
      // Validation: nothing inside Redis shows the cut; the published head does.
      expect((await verify()).code).toBe(0);
      const anchored = await cli(auditCommand, ['verify', '--anchor', published]);
      expect(anchored.code).toBe(1);
      expect(anchored.out).toContain(`record ${published.split(':')[0]} (${published.split(':')[1]!.slice(0, 12)}…) was published as the chain's head, but the chain ends at record ${before.pos}`);
      // An anchor whose hash differs from the record at its position: the chain was rewritten.
      const rewritten = await cli(auditCommand, ['verify', '--anchor', `${before.pos}:${'0'.repeat(64)}`]);
      expect(rewritten.code).toBe(1);
      expect(rewritten.out).toContain(`record ${before.pos} was published with hash 000000000000…, but the chain holds ${before.hash.slice(0, 12)}…`);
    } finally {
      await t.redis.rpush(AUDIT_KEYS.log, freeze, unfreeze);
      await t.redis.set(AUDIT_KEYS.head, storedHead);
    }
    expect((await cli(auditCommand, ['verify', '--anchor', published])).code).toBe(0);
    // A malformed anchor is a usage error.
    const bad = await cli(auditCommand, ['verify', '--anchor', '12:abc']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--anchor needs <pos>:<hash>');
  });

  test('the scheduled audit-head job writes the head to the log', async () => {
    expect(await t.app.background.queues.timers.getJobScheduler('audit-head')).toMatchObject({ name: 'audit-head' });
    const job = await t.app.background.queues.timers.add('audit-head', {} as never, { jobId: `audit-head-test-${Date.now()}` });
    const done = await eventually(async () => ((await job.getState()) === 'completed' ? await t.app.background.queues.timers.getJob(job.id!) : undefined), 10_000);
    const stored = JSON.parse((await t.redis.get(AUDIT_KEYS.head))!) as { pos: number; hash: string };
    expect(done!.returnvalue).toEqual(stored);
  });

  test('damaged data is reported as tampering, not a crash: a null link, a null record, a garbage head', async () => {
    const key = `cs:{g:${full.id}}:audit`;
    const restoreLink = await tamper(key, 2, () => 'null');
    const restoreRecord = await tamper(AUDIT_KEYS.log, 1, () => '{}');
    const head = (await t.redis.get(AUDIT_KEYS.head))!;
    await t.redis.set(AUDIT_KEYS.head, 'garbage');
    const damaged = await verify();
    const traced = await cli(traceCommand, [full.id]);
    const exported = await cli(auditCommand, ['export', '--since', '1h']);
    await restoreLink();
    await restoreRecord();
    await t.redis.set(AUDIT_KEYS.head, head);
    expect(damaged.code).toBe(1);
    expect(damaged.out).toContain(`gate ${full.id} link at position 3: unreadable`);
    expect(damaged.out).toMatch(/deployment chain record 2: unreadable — not a deployment record/);
    expect(damaged.out).toContain('the stored head of the chain is not a head: garbage');
    expect(traced.out).toContain('(unreadable link)');
    expect(traced.out).toMatch(/position 3 \(seq \?\): unreadable/);
    expect(exported.code).toBe(0);
    expect(exported.out).toContain('{"unreadable":"{}"}');
  });

  test('without REDIS_URL the command says so', async () => {
    let err = '';
    const code = await auditCommand(['verify'], { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) }, env: {}, now: Date.now });
    expect(code).toBe(2);
    expect(err).toContain('REDIS_URL is not set');
  });

  test('a REDIS_URL naming a database Redis lacks, or no URL at all, is refused (not read as database 0)', async () => {
    const run = async (url: string) => {
      let err = '';
      let out = '';
      const code = await auditCommand(['verify'], { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: { REDIS_URL: url }, now: Date.now });
      return { code, err, out };
    };
    const missing = await run(testRedisUrl().replace(/\/\d+$/, '/99'));
    expect(missing).toMatchObject({ code: 2, out: '' });
    expect(missing.err).toContain('names database 99');
    const garbage = await run('::::');
    expect(garbage.code).toBe(2);
    expect(garbage.err).toContain('REDIS_URL is not a Redis URL');
  });
});

describe('audit export', () => {
  test('writes NDJSON from --since on, each line a chain record with its entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-export-'));
    const file = join(dir, 'audit.ndjson');
    const { code, err } = await cli(auditCommand, ['export', '--since', '1h', '--out', file]);
    expect(code).toBe(0);
    const text = readFileSync(file, 'utf8');
    rmSync(dir, { recursive: true, force: true });
    const lines = text.trim().split('\n').map((l) => JSON.parse(l));
    expect(err).toContain(`${lines.length} records`);
    expect(lines.length).toBe(await t.redis.llen(AUDIT_KEYS.log));
    expect(lines[0]).toMatchObject({ pos: 1, kind: 'gate', gateId: full.id, seq: 1, entry: { event: 'create' } });
    for (const line of lines) expect(entryDigest(line.entryText)).toBe(line.digest);
    // Nothing is newer than now.
    const future = await cli(auditCommand, ['export', '--since', new Date(Date.now() + 3_600_000).toISOString()]);
    expect(future.out).toBe('');
    expect((await cli(auditCommand, ['export', '--since', 'yesterday-ish'])).code).toBe(2);
  });

  test('to stdout: waits while the reader is behind, and ends quietly (exit 0) when the reader goes away', async () => {
    // A stdout whose reader takes two lines, is slow with them, then closes (`| head -2`).
    let written = 0;
    const reader = new Writable({
      highWaterMark: 1,
      write(_chunk, _enc, done) {
        written += 1;
        if (written > 2) done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
        else setTimeout(done, 10);
      },
    });
    reader.on('error', () => undefined);
    let err = '';
    const code = await auditCommand(['export', '--since', '1h'], { stdout: reader, stderr: { write: (s: string) => (err += s) }, env: { REDIS_URL: testRedisUrl() }, now: Date.now });
    expect(code).toBe(0);
    expect(written).toBe(3);
    expect(err).not.toMatch(/EPIPE|\n\s+at /);
  });
});

describe('trace', () => {
  test('a gate that went the whole way shows every link: intent, session, decision, votes, approval, grant, consumption, outcome', async () => {
    const { code, out } = await cli(traceCommand, [full.id]);
    expect(code).toBe(0);
    // create, two votes, approve, redeem, grant_consumed, complete
    expect(out).toContain(`gate ${full.id} · completed · 7 audit links · chain intact`);
    const steps = out.split('\n').filter((l) => /^\S/.test(l)).map((l) => l.split(' ')[0]);
    expect(steps).toEqual(['gate', 'intent', 'session', 'policy', 'vote', 'vote', 'approval', 'grant', 'consumed', 'outcome']);
    const body = example('iam-attach-admin-policy');
    expect(out).toContain(`"${body.context.intent}"`);
    expect(out).toContain(`session ${body.context.agentSession}`);
    expect(out).toContain('rules identity-and-secrets');
    expect(out).toContain('approve by slack:U0439ZZZZG4');
    expect(out).toContain('approvers U0439ZZZZG4, U07DMEN2KHV');
    expect(out).toContain(`jti ${full.jti}`);
    expect(out).toContain('"aud":"iam-broker"');
    expect(out).toContain('by executor:iam-broker');
    expect(out).toContain('call AttachRolePolicy iam.attach_role_policy arn:aws:iam::111122223333:role/ci-deployer → 200');
  });

  test("a gate whose chain was deleted is not reported intact, nor one whose record is unreadable", async () => {
    const key = `cs:{g:${full.id}}:audit`;
    const chain = await t.redis.lrange(key, 0, -1);
    await t.redis.del(key);
    const noChain = await cli(traceCommand, [full.id]);
    await t.redis.rpush(key, ...chain);
    expect(noChain.out).toContain("the gate's audit chain is missing");
    expect(noChain.out).not.toContain('chain intact');

    const record = (await t.redis.hget(`cs:{g:${full.id}}:gate`, 'record'))!;
    await t.redis.hset(`cs:{g:${full.id}}:gate`, 'record', '{"x":');
    const badRecord = await cli(traceCommand, [full.id]);
    await t.redis.hset(`cs:{g:${full.id}}:gate`, 'record', record);
    expect(badRecord.out).toContain("the gate's record is unreadable");
  });

  test('an unknown gate and a malformed id are told apart', async () => {
    expect((await cli(traceCommand, ['g_00000000000000000000000000'])).code).toBe(3);
    expect((await cli(traceCommand, ['nope'])).code).toBe(2);
  });
});

describe('replicas appending to the deployment chain', () => {
  /** Gates written through the store alone, so no observer has copied them yet. */
  async function uncopiedGates(count: number): Promise<string[]> {
    const now = Date.now();
    const ids = Array.from({ length: count }, () => t.app.ctx.ids.gateId(now));
    for (const id of ids) await t.app.ctx.store.create(pendingGateInput(id, now, { audit: { event: 'create', actor: 'agent:terraform-bot', at: now, gateId: id } }));
    return ids;
  }
  const cancel = (id: string) =>
    t.app.ctx.store.transition(id, { event: 'cancel', now: Date.now(), audit: { event: 'cancel', actor: 'agent:terraform-bot', at: Date.now(), gateId: id } });
  /** (gate, seq) of every gate record in the deployment chain, in chain order. */
  const copies = async () =>
    (await t.redis.lrange(AUDIT_KEYS.log, 0, -1)).map((r) => JSON.parse(r) as { kind: string; gateId: string; seq: number }).filter((r) => r.kind === 'gate').map((r) => `${r.gateId}#${r.seq}`);

  test('three appenders copying the same gates at once fork nothing and copy each link once', async () => {
    // Setup: two more "replicas" on their own connections, next to the app's own log.
    const connections = [t.redis.duplicate(), t.redis.duplicate()];
    const replicas = connections.map((redis) => new DeploymentAuditLog(redis, { now: Date.now }));
    const ids = await uncopiedGates(12);
    for (const id of ids.slice(0, 6)) expect((await cancel(id)).kind).toBe('moved');
    const others = await uncopiedGates(4);
    try {
      // Execution: first each appends something of its own at the same moment (so all but one
      // find the head moved), then all of them copy overlapping sets of gates at once.
      const [a, b] = replicas as [DeploymentAuditLog, DeploymentAuditLog];
      await Promise.all([a.copyGates(others.slice(0, 2)), b.copyGates(others.slice(2)), t.app.admin.audit.admin({ event: 'admin', actor: 'slack:U0', at: Date.now(), command: 'pending' })]);
      await Promise.all([
        a.copyGates(ids),
        b.copyGates([...ids].reverse()),
        t.app.admin.audit.copyGates(ids.slice(3, 9)),
        ...ids.map((id, i) => (i % 2 === 0 ? a : b).copyGate(id)),
        a.admin({ event: 'admin', actor: 'slack:U1', at: Date.now(), command: 'freeze' }),
        b.admin({ event: 'admin', actor: 'slack:U2', at: Date.now(), command: 'unfreeze' }),
      ]);
      // Validation: one chain that verifies, holding every link of these gates exactly once, in each gate's order.
      expect((await verify()).code).toBe(0);
      const all = await copies();
      expect(others.map((id) => all.filter((c) => c === `${id}#1`).length)).toEqual([1, 1, 1, 1]);
      const mine = all.filter((c) => ids.includes(c.split('#')[0]!));
      const expected = ids.flatMap((id, i) => (i < 6 ? [`${id}#1`, `${id}#2`] : [`${id}#1`]));
      expect([...mine].sort()).toEqual([...expected].sort());
      for (const id of ids.slice(0, 6)) expect(mine.indexOf(`${id}#1`)).toBeLessThan(mine.indexOf(`${id}#2`));
      const admins = (await t.redis.lrange(AUDIT_KEYS.log, 0, -1)).map((r) => JSON.parse(r) as { kind: string; entry: string }).filter((r) => r.kind === 'admin');
      expect(admins.map((r) => JSON.parse(r.entry).command)).toEqual(expect.arrayContaining(['freeze', 'unfreeze']));
    } finally {
      await Promise.all(connections.map((c) => c.quit()));
    }
  });

  test('changes close together are copied in one append; flush copies at once', async () => {
    // Setup: a log that gathers changes for a while before copying them.
    const connection = t.redis.duplicate();
    const log = new DeploymentAuditLog(connection, { now: Date.now, gatherMs: 60_000 });
    const ids = await uncopiedGates(3);
    const gate = async (id: string) => (await t.app.ctx.store.read(id))!;
    try {
      // Execution
      for (const id of ids) log.gateChanged({ gate: await gate(id), event: 'create', from: null, actor: 'agent:terraform-bot' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const before = await copies();
      await log.flush();
      // Validation: nothing was copied while gathering; then all three in one append (one
      // time stamp, consecutive positions).
      expect(before.filter((c) => ids.includes(c.split('#')[0]!))).toEqual([]);
      const records = (await t.redis.lrange(AUDIT_KEYS.log, 0, -1))
        .map((r) => JSON.parse(r) as { pos: number; gateId: string; loggedAt: number })
        .filter((r) => ids.includes(r.gateId));
      expect(records.map((r) => r.gateId).sort()).toEqual([...ids].sort());
      expect(new Set(records.map((r) => r.loggedAt)).size).toBe(1);
      expect(records.map((r) => r.pos - records[0]!.pos)).toEqual([0, 1, 2]);
      expect((await verify()).code).toBe(0);
    } finally {
      await connection.quit();
    }
  });

  describe('a new gate whose creation hands over its chain', () => {
    /**
     * Creates a gate through the store (no observer hears of it), hands its creation with the
     * stored link to a log of its own that copies only on flush, runs `steps`, and checks that
     * the deployment chain verifies afterwards.
     */
    async function handedOver(steps: (s: { id: string; gate: Gate; link: AuditLink; log: DeploymentAuditLog }) => Promise<void>): Promise<void> {
      const now = Date.now();
      const id = t.app.ctx.ids.gateId(now);
      const stored = await t.app.ctx.store.create(pendingGateInput(id, now, { audit: { event: 'create', actor: 'agent:terraform-bot', at: now, gateId: id } }));
      if (!stored.created) throw new Error('not created');
      const connection = t.redis.duplicate();
      const log = new DeploymentAuditLog(connection, { now: Date.now, gatherMs: 60_000 });
      try {
        log.gateChanged({ gate: stored.gate, event: 'create', from: null, actor: 'agent:terraform-bot', links: [stored.link] });
        await steps({ id, gate: stored.gate, link: stored.link, log });
      } finally {
        await connection.quit();
      }
      expect((await verify()).code).toBe(0);
    }
    const copiesOf = async (id: string) => (await copies()).filter((c) => c.startsWith(`${id}#`));

    test('is copied as its creation stored it, without reading the chain back', async () => {
      await handedOver(async ({ id, link, log }) => {
        // Setup: the handed link is what the store wrote; then the chain is moved aside, so a
        // copy that read it back would find nothing.
        expect(await t.app.ctx.store.auditTrail(id)).toEqual([link]);
        await t.redis.rename(gateKeys(id).audit, `${gateKeys(id).audit}:aside`);
        try {
          // Execution
          await log.flush();
        } finally {
          await t.redis.rename(`${gateKeys(id).audit}:aside`, gateKeys(id).audit);
        }
        // Validation: the record copies the handed link, and its watermark moved to 1.
        const records = (await t.redis.lrange(AUDIT_KEYS.log, 0, -1)).map((r) => JSON.parse(r) as { gateId: string; seq: number; gateHash: string; digest: string; entry: string });
        expect(records.filter((r) => r.gateId === id).map((r) => [r.seq, r.gateHash, r.digest, r.entry])).toEqual([[1, link.hash, link.digest, link.entry]]);
        expect(await t.redis.hget(AUDIT_KEYS.copied, id)).toBe('1');
      });
    });

    test('changed again before its copy ran: every link is read and copied, in order', async () => {
      await handedOver(async ({ id, log }) => {
        // Execution: a move reaches the log too before it copies.
        const moved = await cancel(id);
        expect(moved.kind).toBe('moved');
        log.gateChanged({ gate: moved.gate, event: 'cancel', from: 'pending_review', actor: 'agent:terraform-bot' });
        await log.flush();
        // Validation
        expect(await copiesOf(id)).toEqual([`${id}#1`, `${id}#2`]);
      });
    });

    test('copied by another replica first: the handed chain is not copied again', async () => {
      await handedOver(async ({ id, log }) => {
        // Setup: another replica copies the gate while this log gathers.
        expect(await t.app.admin.audit.copyGate(id)).toBe(1);
        // Execution
        await log.flush();
        // Validation: one copy of the link.
        expect(await copiesOf(id)).toEqual([`${id}#1`]);
      });
    });
  });

  test('a replica whose remembered watermark is stale copies only what is left', async () => {
    // Setup: replica A copies the gate's first link and remembers how far it got.
    const connections = [t.redis.duplicate(), t.redis.duplicate()];
    const [a, b] = connections.map((redis) => new DeploymentAuditLog(redis, { now: Date.now })) as [DeploymentAuditLog, DeploymentAuditLog];
    const [id] = (await uncopiedGates(1)) as [string];
    try {
      expect(await a.copyGate(id)).toBe(1);
      // Replica B copies the second link behind A's back.
      const approve = await t.app.ctx.store.transition(id, { event: 'approve', now: Date.now(), audit: { event: 'approve', actor: 'slack:U1', at: Date.now(), gateId: id } });
      expect(approve.kind).toBe('moved');
      expect(await b.copyGate(id)).toBe(1);
      // Execution: a third link, while A still believes one link is copied.
      expect((await cancel(id)).kind).toBe('moved');
      const copied = await a.copyGate(id);
      // Validation: A copied the third link only, and the chain verifies.
      expect(copied).toBe(1);
      expect((await copies()).filter((c) => c.startsWith(`${id}#`))).toEqual([`${id}#1`, `${id}#2`, `${id}#3`]);
      expect((await verify()).code).toBe(0);
    } finally {
      await Promise.all(connections.map((c) => c.quit()));
    }
  });
});
