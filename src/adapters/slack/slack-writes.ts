import { ErrorCode as SlackErrorCode, type WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { Message, ModalView, HomeView } from '../../../blocks/types.js';

/** Where a posted message lives. */
export interface MessageRef {
  channel: string;
  ts: string;
}

/** A Slack rate limit reached: the caller (a job) decides when to try again. */
export class SlackRateLimited extends Error {
  override readonly name = 'SlackRateLimited';
  constructor(
    readonly method: string,
    readonly retryAfterSeconds: number,
    readonly channel?: string,
  ) {
    super(`Slack rate-limited ${method}${channel ? ` in ${channel}` : ''}; retry after ${retryAfterSeconds} s`);
  }
}

/**
 * Every write the product makes to Slack goes through here, so that rate limits, retries and
 * (in the background workers) per-channel queues have one place to live. The client is built
 * with `rejectRateLimitedCalls`: a 429 surfaces as `SlackRateLimited` instead of pausing the
 * whole client's queue.
 */
export class SlackWrites {
  constructor(
    readonly client: WebClient,
    private readonly logger: Logger,
  ) {}

  async post(channel: string, message: Message, options: { threadTs?: string; metadata?: { event_type: string; event_payload: Record<string, string> } } = {}): Promise<MessageRef> {
    const res = await this.call('chat.postMessage', channel, {
      channel,
      text: message.text,
      blocks: message.blocks,
      unfurl_links: false,
      unfurl_media: false,
      ...(options.threadTs ? { thread_ts: options.threadTs } : {}),
      ...(options.metadata ? { metadata: options.metadata } : {}),
    });
    return { channel: String(res.channel), ts: String(res.ts) };
  }

  async update(ref: MessageRef, message: Message): Promise<void> {
    await this.call('chat.update', ref.channel, { channel: ref.channel, ts: ref.ts, text: message.text, blocks: message.blocks });
  }

  async ephemeral(channel: string, user: string, text: string): Promise<void> {
    await this.call('chat.postEphemeral', channel, { channel, user, text });
  }

  /** Opens (or reuses) the direct message channel with a user and posts there. */
  async dm(user: string, message: Message): Promise<MessageRef> {
    const opened = await this.call('conversations.open', undefined, { users: user });
    const channel = String((opened.channel as { id: string }).id);
    return this.post(channel, message);
  }

  async openView(triggerId: string, view: ModalView): Promise<void> {
    await this.call('views.open', undefined, { trigger_id: triggerId, view });
  }

  async updateView(viewId: string, view: ModalView, hash?: string): Promise<void> {
    await this.call('views.update', undefined, { view_id: viewId, view, ...(hash ? { hash } : {}) });
  }

  async publishHome(user: string, view: HomeView): Promise<void> {
    await this.call('views.publish', undefined, { user_id: user, view });
  }

  async permalink(ref: MessageRef): Promise<string | undefined> {
    try {
      const res = await this.call('chat.getPermalink', ref.channel, { channel: ref.channel, message_ts: ref.ts });
      return typeof res.permalink === 'string' ? res.permalink : undefined;
    } catch {
      return undefined;
    }
  }

  private async call(method: string, channel: string | undefined, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    try {
      return (await this.client.apiCall(method, args)) as unknown as Record<string, unknown>;
    } catch (err) {
      const e = err as { code?: string; retryAfter?: number; data?: { error?: string } };
      if (e.code === SlackErrorCode.RateLimitedError) throw new SlackRateLimited(method, e.retryAfter ?? 1, channel);
      this.logger.warn({ method, channel, slackError: e.data?.error ?? e.code }, `Slack ${method} failed`);
      throw err;
    }
  }
}
