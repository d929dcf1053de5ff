import { afterAll } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Decision } from '../../../src/core/decision.js';
import { evidenceHash } from '../../../src/core/evidence-hash.js';
import type { Gate } from '../../../src/core/gate.js';
import { GateRequest, splitDelivery } from '../../../src/core/gate-request.js';

export const ISSUER = 'https://countersign.example.com';
/** 2026-01-15T09:00:00Z: every test runs on a frozen clock. */
export const T0 = Date.UTC(2026, 0, 15, 9, 0, 0);

const EXAMPLES = join(import.meta.dirname, '../../../examples');

/** An approved gate built from one of the shipped example requests. */
export function approvedGate(example = 'customer-data-export.json', id = 'g_01JD4Z7Q2M8K'): Gate {
  const body = JSON.parse(readFileSync(join(EXAMPLES, example), 'utf8')) as Record<string, unknown>;
  const { action, delivery } = splitDelivery(GateRequest.parse(body));
  const decision: Decision = {
    outcome: 'review',
    mode: 'enforce',
    risk: { level: 'high', factors: [] },
    grantTtlSeconds: 300,
    executionWindowSeconds: 900,
    rules: [],
    policyVersion: 'sha256:policy-v1',
    protectedTarget: false,
  };
  return {
    id,
    agentId: 'analytics-agent',
    state: 'approved',
    version: 3,
    request: action,
    delivery,
    evidenceHash: evidenceHash(body),
    decision,
    createdAt: T0 - 600_000,
    updatedAt: T0 - 60_000,
    executionDeadline: T0 + 900_000,
    votes: [],
    annotations: {},
  };
}

/** A fresh, empty key directory. */
/** Key directories made by the test file that imports this module (jest loads it per file): removed after it. */
const madeKeyDirs: string[] = [];
afterAll(() => {
  for (const dir of madeKeyDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

export function tempKeyDir(): string {
  const parent = mkdtempSync(join(tmpdir(), 'countersign-keys-'));
  madeKeyDirs.push(parent);
  return join(parent, 'keys');
}

/** A logger that keeps what it was told. */
export function recordingLogger() {
  const warnings: Array<{ obj: object; msg: string }> = [];
  return { warnings, warn: (obj: object, msg: string) => void warnings.push({ obj, msg }) };
}
