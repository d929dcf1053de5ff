import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { POLICIES_DIR } from '../support/app.js';
import { approve, changeRecord, ephemeralsFor, eventually, startSlackTestApp, type SlackTestApp } from '../support/slack.js';
import { requestGate } from './admin-support.js';

/** Ravi (privacy), named as a user of the `data-owners` reviewer set. */
const RAVI = 'U05886VOMPZ';

let t: SlackTestApp;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cs-policies-'));
  cpSync(POLICIES_DIR, dir, { recursive: true });
  t = await startSlackTestApp({ policies: dir });
});
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('someone taken out of a reviewer set by a policy reload can no longer vote on a gate posted before it', async () => {
  const gate = await requestGate(t, 'customer-data-export', 'data-agent');
  await eventually(() => changeRecord(t.slack, gate.id));
  expect((await t.app.ctx.store.reviewers(gate.id)).has(RAVI)).toBe(true);

  const file = join(dir, 'reviewers.yaml');
  const before = readFileSync(file, 'utf8');
  const after = before.replace(`      - { id: ${RAVI}, team: privacy }\n`, '');
  expect(after).not.toBe(before);
  writeFileSync(file, after);
  expect((await t.app.policy.reload()).ok).toBe(true);
  await eventually(async () => !(await t.app.ctx.store.reviewers(gate.id)).has(RAVI));
  // The set's other members stay.
  expect((await t.app.ctx.store.reviewers(gate.id)).has('U047TFQ7XKW')).toBe(true);

  await approve(t, gate.id, RAVI);
  await eventually(() => ephemeralsFor(t.slack, RAVI).some((e) => e.includes('not in the reviewer set')));
  expect((await t.app.ctx.store.read(gate.id))!.state).toBe('pending_review');
});
