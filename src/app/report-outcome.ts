import { z } from 'zod';
import { CountersignError, ErrorCode } from '../core/errors.js';
import { canonicalJson } from '../core/evidence-hash.js';
import type { Gate } from '../core/gate.js';
import type { AgentRegistration } from '../core/policy/agents.js';
import { fieldIssues } from '../core/validation.js';
import { notify, type AppContext } from './ports.js';

/**
 * Bounds of an outcome report. The calls go into the gate's audit entry, which every later
 * reader and `countersign audit verify` handles, so they stay small: what was called, on what,
 * with which result — not the payloads.
 */
export const OUTCOME_LIMITS = { calls: 50, callsBytes: 8 * 1024, detail: 500, summary: 1_000, target: 512 } as const;

const text = (max: number) => z.string().min(1).max(max).refine((s) => s.isWellFormed(), { message: 'contains a lone surrogate' });

/** One downstream call the grant was used for. */
export const OutcomeCall = z.strictObject({
  action: text(128).optional(),
  target: text(OUTCOME_LIMITS.target).optional(),
  method: text(32).optional(),
  status: z.union([z.number().int().min(0).max(999_999), text(64)]).optional(),
  at: z.iso.datetime({ offset: true }).optional(),
  detail: text(OUTCOME_LIMITS.detail).optional(),
});
export type OutcomeCall = z.infer<typeof OutcomeCall>;

/** `POST /v1/gates/:id/outcome` body. */
export const OutcomeReport = z.strictObject({
  status: z.enum(['succeeded', 'failed']),
  calls: z.array(OutcomeCall).max(OUTCOME_LIMITS.calls).default([]),
  summary: text(OUTCOME_LIMITS.summary).optional(),
});
export type OutcomeReport = z.infer<typeof OutcomeReport>;

/** Validates an outcome body; failures are `ERR_INVALID_REQUEST` naming the fields. */
export function parseOutcome(body: unknown): OutcomeReport {
  const parsed = OutcomeReport.safeParse(body);
  if (!parsed.success) {
    throw new CountersignError(ErrorCode.InvalidRequest, 'the body is not a valid outcome report', { issues: fieldIssues(parsed.error) });
  }
  const size = Buffer.byteLength(canonicalJson(parsed.data.calls));
  if (size > OUTCOME_LIMITS.callsBytes) {
    throw new CountersignError(ErrorCode.InvalidRequest, `calls take ${size} bytes; at most ${OUTCOME_LIMITS.callsBytes} are recorded`, {
      issues: [{ pointer: '/calls', message: `must serialize to at most ${OUTCOME_LIMITS.callsBytes} bytes` }],
    });
  }
  return parsed.data;
}

/**
 * The owning agent reports how the run went: `redeemed` → `completed` or `failed`, with the
 * calls in the audit entry, which closes the chain intent → approval → grant → calls. The same
 * report twice is a no-op; the other status after one is a conflict. The stored copy of the
 * grant (kept for a retried redeem) is wiped: the run is over.
 */
export async function reportOutcome(
  ctx: AppContext,
  input: { agent: AgentRegistration; gateId: string; body: unknown },
): Promise<{ gate: Gate; recorded: boolean }> {
  const report = parseOutcome(input.body);
  const now = ctx.now();
  const gate = await ctx.store.getOwned(input.gateId, input.agent.id, now);
  const actor = `agent:${input.agent.id}`;
  const event = report.status === 'succeeded' ? 'complete' : 'fail';
  const grantId = (gate.annotations.grant as { jti?: unknown } | undefined)?.jti;
  const resolution = { event, actor, at: now, ...(report.summary ? { reason: report.summary } : {}) };
  const result = await ctx.store.transition(input.gateId, {
    event,
    now,
    set: { resolution: JSON.stringify(resolution), grantToken: '' },
    audit: {
      event,
      actor,
      at: now,
      status: report.status,
      ...(typeof grantId === 'string' ? { grantId } : {}),
      ...(report.summary ? { summary: report.summary } : {}),
      calls: report.calls,
    },
  });
  if (result.kind === 'noop') return { gate: result.gate, recorded: false };
  ctx.logger.info(
    {
      gateId: gate.id,
      agentId: gate.agentId,
      agentSession: gate.request.context.agentSession,
      workflowId: gate.request.context.workflowId,
      actor,
      event,
      calls: report.calls.length,
    },
    `outcome reported: ${report.status}`,
  );
  await notify(ctx, { gate: result.gate, event, from: result.from, actor });
  return { gate: result.gate, recorded: true };
}
