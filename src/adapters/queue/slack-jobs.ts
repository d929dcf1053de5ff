import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { ErrorCode as SlackErrorCode } from '@slack/web-api';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { renderDecisionThreadReply, renderRequesterNotice } from '../../../blocks/notices.js';
import type { Gate } from '../../core/gate.js';
import { isTerminal } from '../../core/gate-state.js';
import type { GateStore } from '../redis/gate-store.js';
import type { ReviewerDirectory } from '../slack/reviewer-directory.js';
import { annotateRequester, nonVoters, NOTE_MESSAGE, NOTE_REQUESTER, NOTE_REQUESTER_DM, NOTE_REQUESTER_FROM_EMAIL, type SlackBroker } from '../slack/slack-broker.js';
import { SlackRateLimited, type MessageRef, type SlackWrites } from '../slack/slack-writes.js';
import type { ChannelLimiter } from './channel-limiter.js';
import { slackStateKey, SLACK_JOB } from './names.js';
import type { PostOnce, PostOnceResult } from './post-once.js';
import { revision, type SlackJobData, type SlackOutbox } from './slack-outbox.js';

export interface SlackJobDeps {
  store: GateStore;
  broker: SlackBroker;
  directory: ReviewerDirectory;
  writes: SlackWrites;
  outbox: SlackOutbox;
  limiter: ChannelLimiter;
  postOnce: PostOnce;
  redis: Redis;
  now: () => number;
  logger: Logger;
}

/** Sets `field` to `value` only when it is larger than what is there (two workers never step back). */
const RAISE = `
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1 end
return 0`;

/** DM channels remembered (person → channel); the map starts over when full. */
const DM_CHANNELS_KEPT = 10_000;

type Waiting = { job: Job<SlackJobData>; token: string | undefined };

/**
 * Runs Slack write jobs. Each write first takes its channel's slot (about one per second per
 * channel); an early job is moved back to the delayed set rather than holding a worker. A 429
 * holds only its own channel for `Retry-After` and re-delays only this job; other channels and
 * the client keep going. Rate-limit waits do not use up a job's attempts.
 */
export class SlackJobs {
  private readonly dmChannels = new Map<string, string>();

  constructor(private readonly deps: SlackJobDeps) {
    if (typeof (deps.redis as unknown as Record<string, unknown>).csRaiseField !== 'function') {
      deps.redis.defineCommand('csRaiseField', { numberOfKeys: 1, lua: RAISE });
    }
  }

  async run(job: Job<SlackJobData>, token: string | undefined): Promise<string> {
    const w = { job, token };
    try {
      switch (job.name) {
        case SLACK_JOB.post:
          return await this.post(w, job.data.gateId!);
        case SLACK_JOB.update:
          return await this.update(w, job.data.gateId!);
        case SLACK_JOB.reply:
          return await this.reply(w, job.data.gateId!, job.data.state!);
        case SLACK_JOB.dm:
          return await this.dm(w, job.data.gateId!);
        case SLACK_JOB.dmUpdate:
          return await this.dmUpdate(w, job.data.gateId!, job.data.state!);
        case SLACK_JOB.thread:
          return await this.thread(w, job.data);
        case SLACK_JOB.ephemeral:
          await this.clear(w, job.data.channel!);
          await this.deps.writes.ephemeral(job.data.channel!, job.data.user!, job.data.text!);
          return 'sent';
        default:
          throw new UnrecoverableError(`unknown Slack job ${job.name}`);
      }
    } catch (err) {
      const limited = rateLimit(err);
      if (!limited) {
        const slackError = permanentSlackError(err);
        if (slackError === undefined) throw err;
        // Trying again cannot help (the channel is gone, the app is not in it, the token is
        // revoked, the message was refused): said once, loudly, instead of eight quiet retries.
        this.deps.logger.error({ jobId: job.id, job: job.name, gateId: job.data.gateId, channel: job.data.channel, slackError }, `Slack refused a write for good (${slackError}); not retried`);
        throw new UnrecoverableError(`Slack refused ${job.name}: ${slackError}`);
      }
      const until = Date.now() + limited.retryAfterSeconds * 1000;
      const opens = limited.channel ? await this.deps.limiter.hold(limited.channel, until) : until;
      this.deps.logger.warn({ jobId: job.id, channel: limited.channel, method: limited.method, retryAfterSeconds: limited.retryAfterSeconds }, 'Slack rate limit: job delayed');
      return this.delay(w, opens);
    }
  }

  /** The first post of a gate's change record (reviewers are recorded before it appears). */
  private async post(w: Waiting, gateId: string): Promise<string> {
    const { store, broker, directory, outbox } = this.deps;
    // Read, not get: applying a deadline is the timers' job, because they also announce it.
    let gate = await store.read(gateId);
    if (!gate) return 'gone';
    const set = broker.reviewerSetOf(gate);
    if (!set) {
      this.deps.logger.error({ gateId }, 'no reviewer set to post to');
      return 'no_reviewer_set';
    }
    // While the channel's slot is taken, wait before redoing the rest (writes waiting for one
    // channel all wake at its next slot; only one gets it).
    const opens = await this.deps.limiter.opensAt(set.channel);
    if (opens > 0) await this.delay(w, opens);
    // The sets' members now (its own, and an escalation's): not what an earlier attempt stored,
    // which a user group change may have outdated while this post waited for its slot.
    const merged = await broker.reviewersOf(gate);
    let requesterSlackId = gate.annotations[NOTE_REQUESTER] as string | undefined;
    if (requesterSlackId === undefined) {
      const requester = gate.request.context.requester;
      const resolved = await directory.requesterSlackId(requester);
      requesterSlackId = resolved?.id;
      if (resolved) await annotateRequester(store, gateId, resolved);
    }
    await store.setReviewers(gateId, merged, gate.reviewDeadline, nonVoters(gate, requesterSlackId));
    gate = (await store.read(gateId))!;
    await this.slot(w, set.channel);
    const ref = await this.posted(w, await this.deps.postOnce.post(gateId, 'record', set.channel, broker.render(gate, set)));
    await store.annotate(gateId, NOTE_MESSAGE, ref);
    // The requester's DM is its own job: its channel's pacing never holds up the change record.
    // Only a requester found by their email: an id the agent sent could be anyone's.
    if (gate.annotations[NOTE_REQUESTER] !== undefined && gate.annotations[NOTE_REQUESTER_FROM_EMAIL] === true && gate.annotations[NOTE_REQUESTER_DM] === undefined) await outbox.dm(gateId);
    await this.markRendered(gateId, 'rendered', revision(gate));
    this.deps.logger.info({ gateId, agentId: gate.agentId, channel: ref.channel, ts: ref.ts, event: 'slack_posted' }, 'change record posted');
    await this.announceOutcome(gate);
    const latest = (await store.read(gateId))!;
    if (revision(latest) !== revision(gate)) await outbox.update(latest);
    return 'posted';
  }

  /** Shows the gate's current state on its change record (coalesced: an older revision is skipped). */
  private async update(w: Waiting, gateId: string): Promise<string> {
    const { store, broker, outbox, writes } = this.deps;
    const gate = await store.read(gateId);
    const ref = gate?.annotations[NOTE_MESSAGE] as MessageRef | undefined;
    // Not posted yet: the post job renders the state current when it posts.
    if (!gate || !ref) return 'not_posted';
    const shown = revision(gate);
    const rendered = Number((await this.deps.redis.hget(slackStateKey(gateId), 'rendered')) ?? -1);
    if (rendered < shown) {
      await this.clear(w, ref.channel);
      try {
        await writes.update(ref, broker.render(gate, broker.reviewerSetOf(gate)));
      } catch (err) {
        // Someone deleted the change record: the outcome still reaches the thread's readers and
        // the requester below; the record is not written again.
        if (!MESSAGE_GONE.has(permanentSlackError(err) ?? '')) throw err;
        this.deps.logger.warn({ gateId, channel: ref.channel, ts: ref.ts }, 'the change record was deleted in Slack; the outcome is still announced');
        await this.markRendered(gateId, 'rendered', Number.MAX_SAFE_INTEGER);
        await this.announceOutcome(gate);
        return 'record_gone';
      }
      // A newer revision was rendered while this write was under way: this older one may have
      // reached Slack after it, so the newest state is written once more (last writer wins).
      if (!(await this.markRendered(gateId, 'rendered', shown))) {
        const newest = await store.read(gateId);
        if (newest) {
          await writes.update(ref, broker.render(newest, broker.reviewerSetOf(newest)));
          await this.markRendered(gateId, 'rendered', revision(newest));
        }
      }
    }
    await this.announceOutcome(gate);
    // The gate may have moved while we rendered: make sure its newest state is queued too.
    const latest = await store.read(gateId);
    if (latest && revision(latest) > shown) await outbox.update(latest);
    return rendered < shown ? 'updated' : 'current';
  }

  /** Once a gate is decided: the thread reply and the requester's DM update (each once per state). */
  private async announceOutcome(gate: Gate): Promise<void> {
    if (gate.state !== 'approved' && !isTerminal(gate.state)) return;
    await this.deps.outbox.reply(gate.id, gate.state);
    if (gate.annotations[NOTE_REQUESTER_DM] !== undefined) await this.deps.outbox.dmUpdate(gate.id, gate.state);
  }

  /** The thread reply that records a decision, once per final state. */
  private async reply(w: Waiting, gateId: string, state: string): Promise<string> {
    const gate = await this.deps.store.read(gateId);
    const ref = gate?.annotations[NOTE_MESSAGE] as MessageRef | undefined;
    if (!gate || !ref || gate.state !== state) return 'moved_on';
    await this.slot(w, ref.channel);
    await this.posted(w, await this.deps.postOnce.post(gateId, `reply-${state}`, ref.channel, renderDecisionThreadReply(gate), ref.ts));
    return 'posted';
  }

  /** Tells the requester, in a DM, that a request was made on their behalf. */
  private async dm(w: Waiting, gateId: string): Promise<string> {
    const gate = await this.deps.store.read(gateId);
    if (!gate) return 'gone';
    const channel = await this.prepareDm(w, gate);
    if (!channel) return 'no_dm';
    await this.sendDm(w, gate, channel, gate.annotations[NOTE_MESSAGE] as MessageRef | undefined);
    return 'posted';
  }

  /** The requester's DM channel with its posting slot taken, or undefined when no DM is due. */
  private async prepareDm(w: Waiting, gate: Gate): Promise<string | undefined> {
    const user = gate.annotations[NOTE_REQUESTER];
    if (typeof user !== 'string' || gate.annotations[NOTE_REQUESTER_FROM_EMAIL] !== true || gate.annotations[NOTE_REQUESTER_DM] !== undefined) return undefined;
    if (await this.deps.postOnce.recorded(gate.id, 'dm')) return undefined;
    const channel = await this.dmChannel(user);
    await this.slot(w, channel);
    return channel;
  }

  /**
   * The DM channel with a person: conversations.open (Tier 3) once per person, then from
   * memory. The channel of a bot and a user never changes, and a requester often has many
   * gates open at once.
   */
  private async dmChannel(user: string): Promise<string> {
    const known = this.dmChannels.get(user);
    if (known) return known;
    const opened = await this.deps.writes.client.conversations.open({ users: user });
    const channel = opened.channel?.id;
    if (!channel) throw new Error(`conversations.open gave no channel for ${user}`);
    if (this.dmChannels.size >= DM_CHANNELS_KEPT) this.dmChannels.clear();
    this.dmChannels.set(user, channel);
    return channel;
  }

  private async sendDm(w: Waiting, gate: Gate, channel: string, record: MessageRef | undefined): Promise<void> {
    const { store, writes, broker, directory, outbox } = this.deps;
    const permalink = record ? await writes.permalink(record) : undefined;
    const set = broker.reviewerSetOf(gate);
    const notice = renderRequesterNotice(gate, { now: this.deps.now(), ...(set ? { reviewers: directory.mention(set) } : {}), ...(permalink ? { permalink } : {}) });
    const ref = await this.posted(w, await this.deps.postOnce.post(gate.id, 'dm', channel, notice));
    await store.annotate(gate.id, NOTE_REQUESTER_DM, ref);
    const latest = await store.read(gate.id);
    if (latest && (latest.state === 'approved' || isTerminal(latest.state))) await outbox.dmUpdate(gate.id, latest.state);
  }

  /** Updates the requester's DM with how the request ended. */
  private async dmUpdate(w: Waiting, gateId: string, state: string): Promise<string> {
    const { store, writes, broker, directory } = this.deps;
    const gate = await store.read(gateId);
    const dm = gate?.annotations[NOTE_REQUESTER_DM] as MessageRef | undefined;
    if (!gate || !dm) return 'no_dm';
    const done = `dm:${state}`;
    if (await this.deps.redis.hexists(slackStateKey(gateId), done)) return 'current';
    await this.clear(w, dm.channel);
    const set = broker.reviewerSetOf(gate);
    await writes.update(dm, renderRequesterNotice(gate, { now: this.deps.now(), ...(set ? { reviewers: directory.mention(set) } : {}) }));
    await this.deps.redis.hset(slackStateKey(gateId), done, this.deps.now());
    return 'updated';
  }

  /** A reminder or escalation in the change record's thread, while the gate still waits. */
  private async thread(w: Waiting, data: SlackJobData): Promise<string> {
    const gate = await this.deps.store.read(data.gateId!);
    if (!gate || gate.state !== 'pending_review') return 'moved_on';
    const ref = gate.annotations[NOTE_MESSAGE] as MessageRef | undefined;
    // The change record comes first; retried with backoff until it is there.
    if (!ref) throw new Error(`change record of ${gate.id} not posted yet`);
    await this.slot(w, ref.channel);
    await this.posted(w, await this.deps.postOnce.post(gate.id, data.key!, ref.channel, data.message!, ref.ts));
    return 'posted';
  }

  /** Takes the channel's posting slot, or waits for it. */
  private async slot(w: Waiting, channel: string): Promise<void> {
    const wait = await this.deps.limiter.reserve(channel);
    if (wait > 0) await this.delay(w, wait);
  }

  /** Waits while the channel is held by a 429 (updates and ephemerals take no posting slot). */
  private async clear(w: Waiting, channel: string): Promise<void> {
    const wait = await this.deps.limiter.heldUntil(channel);
    if (wait > 0) await this.delay(w, wait);
  }

  private async posted(w: Waiting, result: PostOnceResult): Promise<MessageRef> {
    if (result.kind === 'wait') await this.delay(w, result.until);
    return (result as Extract<PostOnceResult, { kind: 'posted' }>).ref;
  }

  /** Puts the job back in the delayed set until `until` (not an attempt) and leaves the handler. */
  private async delay(w: Waiting, until: number): Promise<never> {
    await w.job.moveToDelayed(Math.ceil(until), w.token);
    throw new DelayedError();
  }

  /** Raises the rendered revision; false when a newer one was rendered already. */
  private async markRendered(gateId: string, field: string, value: number): Promise<boolean> {
    const redis = this.deps.redis as Redis & { csRaiseField(key: string, field: string, value: number): Promise<number> };
    return (await redis.csRaiseField(slackStateKey(gateId), field, value)) === 1;
  }
}

/** Slack errors that no retry can fix. */
const PERMANENT = new Set([
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'invalid_auth',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'missing_scope',
  'not_authed',
  'message_not_found',
  'cant_update_message',
  'invalid_blocks',
  'msg_too_long',
  'msg_blocks_too_long',
  'invalid_arguments',
  'restricted_action',
  'user_not_found',
  'no_permission',
]);
const MESSAGE_GONE = new Set(['message_not_found', 'cant_update_message']);

/** The Slack error code of a write that can never succeed, if this is one. */
function permanentSlackError(err: unknown): string | undefined {
  const code = (err as { data?: { error?: unknown } }).data?.error;
  return typeof code === 'string' && PERMANENT.has(code) ? code : undefined;
}

/** A 429 from SlackWrites or straight from the Web API client. */
function rateLimit(err: unknown): { channel?: string; method: string; retryAfterSeconds: number } | undefined {
  if (err instanceof SlackRateLimited) return { method: err.method, retryAfterSeconds: err.retryAfterSeconds, ...(err.channel ? { channel: err.channel } : {}) };
  const e = err as { code?: string; retryAfter?: number };
  if (e?.code === SlackErrorCode.RateLimitedError) return { method: 'web-api', retryAfterSeconds: e.retryAfter ?? 1 };
  return undefined;
}

