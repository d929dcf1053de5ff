import type { Gate } from '../core/gate.js';
import type { AgentRegistration } from '../core/policy/agents.js';
import { notify, type AppContext } from './ports.js';

/** An agent withdraws its own gate. Cancelling twice is a no-op; a finished gate is a conflict. */
export async function cancelGate(
  ctx: AppContext,
  input: { agent: AgentRegistration; gateId: string; reason?: string },
): Promise<Gate> {
  const now = ctx.now();
  await ctx.store.getOwned(input.gateId, input.agent.id, now);
  const actor = `agent:${input.agent.id}`;
  const resolution = { event: 'cancel', actor, at: now, ...(input.reason ? { reason: input.reason } : {}) };
  const result = await ctx.store.transition(input.gateId, {
    event: 'cancel',
    now,
    set: { resolution: JSON.stringify(resolution) },
    audit: { event: 'cancel', actor, at: now, reason: input.reason ?? null },
  });
  if (result.kind === 'moved') {
    ctx.logger.info({ gateId: input.gateId, agentId: input.agent.id, event: 'cancel', actor }, 'gate cancelled');
    await notify(ctx, { gate: result.gate, event: 'cancel', from: result.from, actor });
  }
  return result.gate;
}
