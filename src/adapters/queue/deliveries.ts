import { UnrecoverableError, type Job, type Queue } from 'bullmq';
import type { Logger } from 'pino';
import { gateView } from '../../app/gate-view.js';
import type { GateChange, GateObserver } from '../../app/ports.js';
import type { AgentNetworks } from '../../core/agent-networks.js';
import type { AgentRegistration } from '../../core/policy/agents.js';
import { checkJobId, jobId } from './names.js';
import { agentSigningSecret, DestinationRefused, signedPost } from './signed-post.js';

/** What one callback job carries. The body is fixed when the change happens; signing is per attempt. */
export interface DeliveryJobData {
  gateId: string;
  agentId: string;
  version: number;
  event: string;
  url: string;
  body: string;
}

export interface DeliveryOptions {
  /** Attempts before the delivery is parked (kept as a failed job for admins to replay). */
  attempts: number;
  /** First retry delay; each next one doubles (2 s → 4 s → … → about 4 minutes in all with 8 attempts). */
  backoffMs: number;
  timeoutMs: number;
}

export const DEFAULT_DELIVERY_OPTIONS: DeliveryOptions = { attempts: 8, backoffMs: 2_000, timeoutMs: 10_000 };

/** The callback body: the Standard Webhooks payload shape `{type, timestamp, data}`. */
export function deliveryBody(change: GateChange): string {
  const { gate } = change;
  return JSON.stringify({
    type: `gate.${gate.state}`,
    timestamp: new Date(gate.updatedAt).toISOString(),
    data: { event: change.event, from: change.from, actor: change.actor, gate: gateView(gate) },
  });
}

/**
 * Queues a signed callback to the agent's `delivery.callbackUrl` on every state change (not on
 * create, which the agent's own request answered, nor on a vote that did not decide). One job
 * per gate version: a change announced twice is delivered once.
 */
export class GateDeliveries implements GateObserver {
  constructor(
    private readonly queue: Queue<DeliveryJobData>,
    private readonly options: DeliveryOptions = DEFAULT_DELIVERY_OPTIONS,
  ) {}

  async gateChanged(change: GateChange): Promise<void> {
    if (change.event === 'create' || change.event === 'vote') return;
    const url = change.gate.delivery.callbackUrl;
    if (!url) return;
    const data: DeliveryJobData = {
      gateId: change.gate.id,
      agentId: change.gate.agentId,
      version: change.gate.version,
      event: change.event,
      url,
      body: deliveryBody(change),
    };
    await this.queue.add('deliver', data, {
      jobId: checkJobId(jobId.deliver(change.gate.id, change.gate.version)),
      attempts: this.options.attempts,
      backoff: { type: 'exponential', delay: this.options.backoffMs },
      // Kept an hour so a change announced twice (by a timer and a read) is still one delivery.
      removeOnComplete: { age: 3_600, count: 10_000 },
      // Parked: failed deliveries stay until an admin replays or removes them.
      removeOnFail: false,
    });
  }
}

export interface DeliveryDeps {
  agent(id: string): AgentRegistration | undefined;
  env: NodeJS.ProcessEnv;
  now: () => number;
  timeoutMs: number;
  networks: AgentNetworks;
  logger: Logger;
}

/**
 * Sends one callback. A non-2xx answer or a network error fails the attempt (BullMQ retries it);
 * a URL that leads to an address COUNTERSIGN_AGENT_NETWORKS does not allow is parked at once.
 */
export async function runDelivery(deps: DeliveryDeps, job: Job<DeliveryJobData>): Promise<string> {
  const { data } = job;
  const secret = agentSigningSecret(deps.agent(data.agentId), deps.env);
  if (!secret) {
    throw new UnrecoverableError(`no signing secret for agent ${data.agentId}: set its secret or COUNTERSIGN_DELIVERY_SECRET`);
  }
  let answer;
  try {
    answer = await signedPost(data.url, data.body, { secret, id: job.id!, now: deps.now(), timeoutMs: deps.timeoutMs, networks: deps.networks });
  } catch (err) {
    if (!(err instanceof DestinationRefused)) throw err;
    deps.logger.warn(
      { gateId: data.gateId, agentId: data.agentId, event: 'callback_refused', host: err.host, address: err.verdict.address, category: err.verdict.category },
      `callback refused: ${err.message}`,
    );
    throw new UnrecoverableError(`callback refused: ${err.message}`);
  }
  if (answer.status < 200 || answer.status > 299) throw new Error(`callback answered HTTP ${answer.status}`);
  return `HTTP ${answer.status}`;
}

/** A callback that ran out of attempts, as the admin command lists it. */
export interface ParkedDelivery {
  jobId: string;
  gateId: string;
  agentId: string;
  event: string;
  url: string;
  attempts: number;
  failedReason: string;
  failedAt?: string;
}

/** Parked deliveries, newest first (`start`/`end` page through them). */
export async function listParkedDeliveries(queue: Queue<DeliveryJobData>, start = 0, end = 99): Promise<ParkedDelivery[]> {
  const jobs = await queue.getFailed(start, end);
  return jobs.map((job) => ({
    jobId: String(job.id),
    gateId: job.data.gateId,
    agentId: job.data.agentId,
    event: job.data.event,
    url: job.data.url,
    attempts: job.attemptsMade,
    failedReason: job.failedReason,
    ...(job.finishedOn ? { failedAt: new Date(job.finishedOn).toISOString() } : {}),
  }));
}

/**
 * Sends again every parked delivery of one gate, oldest version first (versions 1 to
 * `lastVersion`: a gate's deliveries are one job per version). Returns how many were parked.
 */
export async function replayParkedDeliveriesOf(queue: Queue<DeliveryJobData>, gateId: string, lastVersion: number): Promise<number> {
  let replayed = 0;
  for (let version = 1; version <= lastVersion; version += 1) {
    if (await replayParkedDelivery(queue, jobId.deliver(gateId, version))) replayed += 1;
  }
  return replayed;
}

/** Sends a parked delivery again, with a fresh set of attempts. False when no such parked job. */
export async function replayParkedDelivery(queue: Queue<DeliveryJobData>, id: string): Promise<boolean> {
  const job = await queue.getJob(id);
  if (!job || !(await job.isFailed())) return false;
  await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
  return true;
}
