import { expect } from '@jest/globals';
import { createPublicKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { castVote } from '../../src/app/cast-vote.js';
import type { GateChange } from '../../src/app/ports.js';
import { evidenceHash } from '../../src/core/evidence-hash.js';
import type { GateRequest } from '../../src/core/gate-request.js';
import { call, signedCall, type HttpAnswer } from '../support/agent-http.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { example } from '../support/gates.js';

/** Shared by the execution-*.test.ts files: an app with a movable clock and agent-side calls. */

export const ISSUER = 'https://countersign.test';

/** The app's clock: real time plus an offset a test can move (never a sleep). */
export class TestClock {
  offset = 0;
  now = (): number => Date.now() + this.offset;
  advance(ms: number): void {
    this.offset += ms;
  }
}

export interface ExecutionApp extends TestApp {
  clock: TestClock;
  /** Gate changes every observer was told about, oldest first. */
  changes: GateChange[];
  bypass: Record<string, number>;
}

export async function startExecutionApp(env: NodeJS.ProcessEnv = {}): Promise<ExecutionApp> {
  const clock = new TestClock();
  const t = await startTestApp({ now: clock.now, env: { COUNTERSIGN_PUBLIC_URL: ISSUER, ...env } });
  const changes: GateChange[] = [];
  const bypass: Record<string, number> = {};
  t.app.ctx.observers.push({ gateChanged: (change) => void changes.push(change) });
  t.app.ctx.metrics = { bypassAttempt: (kind) => void (bypass[kind] = (bypass[kind] ?? 0) + 1) };
  return Object.assign(t, { clock, changes, bypass });
}

/** A signed request by a registered agent or executor, timestamped by the app's clock. */
export function as(t: ExecutionApp, who: string, method: string, path: string, options: Parameters<typeof signedCall>[5] = {}): Promise<HttpAnswer> {
  return signedCall(t.app.url, who, t.secrets[who]!, method, path, { now: t.clock.now(), ...options });
}

export async function createGate(t: ExecutionApp, agent: string, body: GateRequest): Promise<{ id: string; state: string; hash: string }> {
  const answer = await as(t, agent, 'POST', '/v1/gates', { json: body });
  if (answer.status !== 201) throw new Error(`gate not created: ${answer.status} ${answer.text}`);
  return { id: answer.body.id, state: answer.body.state, hash: evidenceHash(body as unknown as Record<string, unknown>) };
}

export const redeem = (t: ExecutionApp, agent: string, gateId: string, hash: string, headers: Record<string, string> = {}) =>
  as(t, agent, 'POST', `/v1/gates/${gateId}/redeem`, { json: { evidenceHash: hash }, headers });

export const introspect = (t: ExecutionApp, executor: string, token: string) =>
  as(t, executor, 'POST', '/v1/grants/introspect', { json: { token } });

/**
 * Reviewers approve a gate in Slack. Until the Slack test support lands, their votes go through
 * the real vote use case (the one the Slack receiver calls) after the reviewer set is recorded,
 * as the broker does when it posts the change record.
 */
export async function approveInSlack(t: ExecutionApp, gateId: string, reviewers: Array<{ id: string; team?: string }>): Promise<void> {
  await t.app.ctx.store.setReviewers(gateId, new Map(reviewers.map((r) => [r.id, r.team])));
  // As Slack hands them over: each voter with the email their profile holds.
  for (const reviewer of reviewers) await castVote(t.app.ctx, { gateId, voter: { id: reviewer.id, email: `${reviewer.id.toLowerCase()}@example.com` }, vote: 'approve' });
}

export async function servedJwks(t: ExecutionApp): Promise<{ keys: Array<Record<string, string>> }> {
  const answer = await call(t.app.url, 'GET', '/.well-known/jwks.json');
  if (answer.status !== 200) throw new Error(`JWKS answered ${answer.status}`);
  return answer.body;
}

/**
 * Verifies a grant the way an executor without jose would: `jsonwebtoken` with the public key
 * picked from the served JWKS by `kid`, plus the explicit type check jsonwebtoken lacks.
 */
export function verifyWithJsonwebtoken(
  token: string,
  jwks: { keys: Array<Record<string, string>> },
  options: { audience: string; clockTimestamp?: number },
): jwt.JwtPayload {
  const decoded = jwt.decode(token, { complete: true });
  if (!decoded) throw new Error('not a JWT');
  if (decoded.header.typ !== 'countersign-grant+jwt') throw new Error(`wrong typ ${decoded.header.typ}`);
  const jwk = jwks.keys.find((k) => k.kid === decoded.header.kid);
  if (!jwk) throw new Error(`unknown kid ${decoded.header.kid}`);
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  return jwt.verify(token, key, {
    algorithms: ['ES256'],
    issuer: ISSUER,
    audience: options.audience,
    ...(options.clockTimestamp !== undefined ? { clockTimestamp: options.clockTimestamp } : {}),
  }) as jwt.JwtPayload;
}

/** An RFC 9457 problem with this status and code. */
export function expectProblem(answer: HttpAnswer, status: number, code: string): void {
  expect({ status: answer.status, code: answer.body?.code }).toEqual({ status, code });
  expect(answer.headers.get('content-type')).toBe('application/problem+json');
  expect(answer.body.type).toMatch(/^https:\/\/countersign\.dev\/problems\//);
}

/** The two security reviewers who approve the IAM example in these tests. */
export const SECURITY_REVIEWERS = [
  { id: 'U0439ZZZZG4', team: 'security' },
  { id: 'U07DMEN2KHV', team: 'security' },
];

/** The IAM example asked for, approved by two security reviewers and redeemed: its grant issued. */
export async function redeemedGate(t: ExecutionApp): Promise<{ id: string; hash: string; grant: string; jti: string }> {
  const gate = await createGate(t, 'iam-agent', example('iam-attach-admin-policy'));
  await approveInSlack(t, gate.id, SECURITY_REVIEWERS);
  const redeemed = await redeem(t, 'iam-agent', gate.id, gate.hash);
  if (redeemed.status !== 200) throw new Error(`redeem answered ${redeemed.status}: ${JSON.stringify(redeemed.body)}`);
  return { id: gate.id, hash: gate.hash, grant: redeemed.body.grant as string, jti: redeemed.body.claims.jti as string };
}
