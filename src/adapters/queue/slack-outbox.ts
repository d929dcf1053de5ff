import type { Queue } from 'bullmq';
import type { Message } from '../../../blocks/types.js';
import type { GateChange } from '../../app/ports.js';
import type { Gate } from '../../core/gate.js';
import type { GateStore } from '../redis/gate-store.js';
import { checkJobId, jobId, SLACK_JOB, type SlackJobName } from './names.js';

/** What a Slack write job carries; which fields depends on the job name. */
export interface SlackJobData {
  gateId?: string;
  version?: number;
  votes?: number;
  state?: string;
  /** Thread posts: the once-key (e.g. `remind-50`) and the message. */
  key?: string;
  message?: Message;
  /** Ephemerals. */
  channel?: string;
  user?: string;
  text?: string;
}

/** What the change record shows, as one number: a newer one is always larger. */
export function revision(gate: Pick<Gate, 'version' | 'votes'>): number {
  return gate.version * 100_000 + gate.votes.length;
}

const OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: true,
  removeOnFail: { count: 1_000 },
} as const;

/**
 * The enqueue side of Slack writes: every post, update, thread reply and DM becomes a job on
 * the `slack` queue, where workers pace them per channel. Job ids make each write once:
 * one `slack-post-<gate>`, one update per shown revision, one thread post per key.
 */
export class SlackOutbox {
  constructor(
    private readonly queue: Queue<SlackJobData>,
    private readonly store: GateStore,
  ) {}

  /** Routes a gate change: the first post for a new gate that needs review, an update otherwise. */
  async changed(change: GateChange): Promise<void> {
    if (change.event === 'create') {
      if (change.gate.state === 'pending_review') await this.post(change.gate.id);
      return;
    }
    await this.update(change.gate);
  }

  /** Re-renders the change record from the gate's current state. */
  async refresh(gateId: string): Promise<void> {
    const gate = await this.store.read(gateId);
    if (gate) await this.update(gate);
  }

  post(gateId: string): Promise<void> {
    return this.add(SLACK_JOB.post, jobId.slackPost(gateId), { gateId });
  }

  update(gate: Pick<Gate, 'id' | 'version' | 'votes'>): Promise<void> {
    const votes = gate.votes.length;
    return this.add(SLACK_JOB.update, jobId.slackUpdate(gate.id, gate.version, votes), { gateId: gate.id, version: gate.version, votes });
  }

  reply(gateId: string, state: string): Promise<void> {
    return this.add(SLACK_JOB.reply, jobId.slackReply(gateId, state), { gateId, state });
  }

  dm(gateId: string): Promise<void> {
    return this.add(SLACK_JOB.dm, jobId.slackDm(gateId), { gateId });
  }

  dmUpdate(gateId: string, state: string): Promise<void> {
    return this.add(SLACK_JOB.dmUpdate, jobId.slackDmUpdate(gateId, state), { gateId, state });
  }

  /** A message in the change record's thread, posted once per `key`. */
  thread(gateId: string, key: string, message: Message): Promise<void> {
    return this.add(SLACK_JOB.thread, jobId.slackThread(gateId, key), { gateId, key, message });
  }

  /** A private note to one person in a channel (no once-key: each call is one note). */
  async ephemeral(channel: string, user: string, text: string): Promise<void> {
    await this.queue.add(SLACK_JOB.ephemeral, { channel, user, text }, OPTIONS);
  }

  private async add(name: SlackJobName, id: string, data: SlackJobData): Promise<void> {
    await this.queue.add(name, data, { ...OPTIONS, jobId: checkJobId(id) });
  }
}
