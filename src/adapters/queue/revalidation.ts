import { createHash } from 'node:crypto';
import { UnrecoverableError, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
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
    const slot = this.nextSlot(gate.id, after);
    const at = this.offsetOf(gate.id) + slot * this.everyMs;
    await this.queue.add('revalidate', { gateId: gate.id, at }, {
      jobId: checkJobId(jobId.revalidate(gate.id, slot)),
      delay: Math.max(0, at - this.now()),
      attempts: 4,
      backoff: { type: 'exponential', delay: 5_000 },
      removeOnComplete: true,
      removeOnFail: { count: 1_000 },
    });
  }

  /**
   * Re-arms the chains of these gates that have none: each slot job schedules the next before
   * it asks, so a chain ends only when that scheduling failed for good (Redis out past the
   * job's retries). A chain is alive while the slot under way or the next one waits or runs.
   * `read` gives a gate as stored; `redis` is a connection to the queue's Redis. Returns how
   * many chains were armed again.
   */
  async rearm(gateIds: readonly string[], deps: { redis: Redis; read: (id: string) => Promise<Gate | undefined> }): Promise<number> {
    if (gateIds.length === 0) return 0;
    const now = this.now();
    const slotJobs = (id: string) => {
      const next = this.nextSlot(id, now);
      return [jobId.revalidate(id, next - 1), jobId.revalidate(id, next)];
    };
    const look = deps.redis.pipeline();
    for (const id of gateIds) for (const job of slotJobs(id)) look.hmget(this.queue.toKey(job), 'timestamp', 'finishedOn');
    const replies = ((await look.exec()) ?? []).map(([, value]) => (value ?? [null, null]) as Array<string | null>);
    let rearmed = 0;
    for (const [i, id] of gateIds.entries()) {
      const states = replies.slice(2 * i, 2 * i + 2);
      if (states.some(([created, finished]) => created !== null && finished === null)) continue;
      const gate = await deps.read(id);
      if (!gate?.delivery.revalidateUrl || (gate.state !== 'pending_review' && gate.state !== 'approved')) continue;
      // A slot job that failed for good is kept a while, and would swallow the new one of its id.
      for (const [k, [created]] of states.entries()) if (created !== null) await this.queue.remove(slotJobs(id)[k]!);
      await this.schedule(gate, now);
      rearmed += 1;
    }
    return rearmed;
  }

  /** Slots are fixed per gate, offset by a hash of its id so that gates do not all ask at once. */
  private offsetOf(gateId: string): number {
    return createHash('sha256').update(gateId).digest().readUInt32BE(0) % this.everyMs;
  }

  /** The first slot after `after`. */
  private nextSlot(gateId: string, after: number): number {
    return Math.floor((after - this.offsetOf(gateId)) / this.everyMs) + 1;
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
