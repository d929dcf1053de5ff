import { createHash } from 'node:crypto';
import { UnrecoverableError, type Job, type Queue } from 'bullmq';
import type { AppContext, GateChange, GateObserver } from '../../app/ports.js';
import { EvidenceProbeFailed, revalidateGate, type EvidenceProbe, type RevalidationOutcome } from '../../app/revalidate.js';
import type { AgentNetworks } from '../../core/agent-networks.js';
import type { Gate } from '../../core/gate.js';
import type { AgentRegistration } from '../../core/policy/agents.js';
import { checkJobId, jobId } from './names.js';
import { agentSigningSecret, DestinationRefused, signedPost } from './signed-post.js';

const EVIDENCE_HASH = /^sha256:[0-9a-f]{64}$/;

/**
 * Asks the agent's `delivery.revalidateUrl`, with a request signed like our callbacks, for the
 * hash of what it would run now: `POST {gateId, evidenceHash}` → `{evidenceHash}`.
 */
export class HttpEvidenceProbe implements EvidenceProbe {
  constructor(
    private readonly deps: {
      agent(id: string): AgentRegistration | undefined;
      env: NodeJS.ProcessEnv;
      now: () => number;
      timeoutMs: number;
      networks: AgentNetworks;
    },
  ) {}

  async currentHash(gate: Gate): Promise<string> {
    const url = gate.delivery.revalidateUrl;
    if (!url) throw new EvidenceProbeFailed(`gate ${gate.id} has no revalidateUrl`);
    const secret = agentSigningSecret(this.deps.agent(gate.agentId), this.deps.env);
    if (!secret) throw new EvidenceProbeFailed(`no signing secret for agent ${gate.agentId}`);
    const body = JSON.stringify({ gateId: gate.id, evidenceHash: gate.evidenceHash });
    let answer;
    try {
      answer = await signedPost(url, body, {
        secret,
        id: `revalidate-${gate.id}-${this.deps.now()}`,
        now: this.deps.now(),
        timeoutMs: this.deps.timeoutMs,
        networks: this.deps.networks,
      });
    } catch (err) {
      if (err instanceof DestinationRefused) throw new EvidenceProbeFailed(`revalidateUrl refused: ${err.message}`, { cause: err });
      throw new EvidenceProbeFailed(`revalidateUrl unreachable: ${(err as Error).message}`, { cause: err });
    }
    if (answer.status < 200 || answer.status > 299) throw new EvidenceProbeFailed(`revalidateUrl answered HTTP ${answer.status}`);
    let hash: unknown;
    try {
      hash = (JSON.parse(answer.text) as { evidenceHash?: unknown }).evidenceHash;
    } catch {
      throw new EvidenceProbeFailed('revalidateUrl answered something other than JSON');
    }
    if (typeof hash !== 'string' || !EVIDENCE_HASH.test(hash)) throw new EvidenceProbeFailed('revalidateUrl answered no valid evidenceHash');
    return hash;
  }
}

export interface RevalidationJobData {
  gateId: string;
  /** When this slot is due (epoch ms). */
  at: number;
}

/**
 * Keeps one revalidation job per waiting gate with a `revalidateUrl`, every `everyMs`. Slots
 * are fixed per gate (offset by a hash of its id, so gates do not all ask at once), and the
 * slot number is in the job id: processes that schedule the same slot make one job.
 */
export class GateRevalidation implements GateObserver {
  constructor(
    private readonly queue: Queue<RevalidationJobData>,
    private readonly now: () => number,
    readonly everyMs: number,
  ) {}

  async gateChanged(change: GateChange): Promise<void> {
    await this.schedule(change.gate);
  }

  /** Schedules the gate's next slot after `after`, while it waits. */
  async schedule(gate: Gate, after: number = this.now()): Promise<void> {
    if (!gate.delivery.revalidateUrl || (gate.state !== 'pending_review' && gate.state !== 'approved')) return;
    const offset = createHash('sha256').update(gate.id).digest().readUInt32BE(0) % this.everyMs;
    const slot = Math.floor((after - offset) / this.everyMs) + 1;
    const at = offset + slot * this.everyMs;
    await this.queue.add('revalidate', { gateId: gate.id, at }, {
      jobId: checkJobId(jobId.revalidate(gate.id, slot)),
      delay: Math.max(0, at - this.now()),
      attempts: 4,
      backoff: { type: 'exponential', delay: 5_000 },
      removeOnComplete: true,
      removeOnFail: { count: 1_000 },
    });
  }
}

/**
 * One revalidation slot: schedule the next one, then ask (a failed probe throws, and is retried;
 * a revalidateUrl that leads to an address COUNTERSIGN_AGENT_NETWORKS does not allow fails the
 * slot at once).
 */
export async function runRevalidation(
  deps: { ctx: AppContext; probe: EvidenceProbe; scheduler: GateRevalidation },
  job: Job<RevalidationJobData>,
): Promise<RevalidationOutcome['kind']> {
  const gate = await deps.ctx.store.read(job.data.gateId);
  if (!gate) return 'skipped';
  await deps.scheduler.schedule(gate, Math.max(deps.ctx.now(), job.data.at));
  let outcome: RevalidationOutcome;
  try {
    outcome = await revalidateGate(deps.ctx, deps.probe, job.data.gateId);
  } catch (err) {
    const refused = err instanceof EvidenceProbeFailed && err.cause instanceof DestinationRefused ? err.cause : undefined;
    if (!refused) throw err;
    deps.ctx.logger.warn(
      { gateId: gate.id, agentId: gate.agentId, event: 'revalidation_refused', host: refused.host, address: refused.verdict.address, category: refused.verdict.category },
      `revalidation refused: ${refused.message}`,
    );
    throw new UnrecoverableError((err as Error).message);
  }
  if (outcome.kind === 'drifted') deps.ctx.logger.info({ gateId: job.data.gateId, event: 'revalidation_drift' }, 'revalidation found drift');
  return outcome.kind;
}
