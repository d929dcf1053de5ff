import { CountersignError, ErrorCode } from '../../core/errors.js';
import type { Gate } from '../../core/gate.js';
import { notify } from '../ports.js';
import { actorName, recordAppliedAdminAction, type AdminActor, type AdminContext } from './admin-context.js';

/** An admin withdraws any gate that has not run yet. Cancelling twice is a no-op. */
export async function adminCancel(admin: AdminContext, input: { gateId: string; actor: AdminActor; reason?: string }): Promise<Gate> {
  const { app } = admin;
  const now = app.now();
  const gate = await app.store.get(input.gateId, now);
  if (!gate) throw new CountersignError(ErrorCode.GateNotFound, `no gate ${input.gateId}`, { details: { gateId: input.gateId } });
  const actor = actorName(input.actor);
  const reason = input.reason?.trim() || 'cancelled by an admin';
  const result = await app.store.transition(gate.id, {
    event: 'cancel',
    now,
    set: { resolution: JSON.stringify({ event: 'cancel', actor, at: now, reason }) },
    audit: { event: 'cancel', actor, at: now, reason },
  });
  if (result.kind === 'moved') {
    app.logger.info({ gateId: gate.id, agentId: gate.agentId, actor, event: 'cancel' }, 'gate cancelled by an admin');
    await notify(app, { gate: result.gate, event: 'cancel', from: result.from, actor });
    await recordAppliedAdminAction(admin, input.actor, 'cancel', { gateId: gate.id, reason }, 'cancelled');
  }
  return result.gate;
}
