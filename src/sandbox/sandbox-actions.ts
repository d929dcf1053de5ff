import { randomBytes } from 'node:crypto';
import {
  buttonClickPayload,
  signedInteraction,
  signedSlashCommand,
  slackSignature,
  slashCommandFields,
  viewButtonClickPayload,
  viewSubmissionPayload,
  type SignedSlackRequest,
  type SlackActor,
} from './slack-interactions.js';
import type { RecordedCall, SlackWebApiStandIn, StoredView } from './slack-web-api.js';

/**
 * "Act as a person" in the sandbox: what Slack's client and servers do between a click and the
 * app. Each action becomes the payload Slack would send, signed with the app's signing secret
 * and posted form-encoded to its `/slack/events`; the app's answer is applied as Slack applies
 * it (a modal closes, shows errors, is replaced; a command's reply appears for the user alone).
 */

/** What the page asks for. Values are block id → action id → `{ type, value }`. */
export type SandboxAction =
  | { kind: 'button'; as: string; channel: string; ts: string; actionId: string; blockId?: string; value?: string }
  | { kind: 'view_button'; as: string; viewId: string; actionId: string; blockId?: string; value?: string }
  | { kind: 'view_submission'; as: string; viewId: string; values: Record<string, Record<string, { type: string; value: string | null }>> }
  | { kind: 'view_closed'; as: string; viewId: string }
  | { kind: 'slash'; as: string; channel: string; command?: string; text: string }
  | { kind: 'home'; as: string };

export interface ActResult {
  /** The app's HTTP status (0 when it could not be reached). */
  status: number;
  /** Field errors a view submission was answered with (block id → message). */
  errors?: Record<string, string>;
  detail?: string;
}

export interface SandboxActorsOptions {
  standIn: SlackWebApiStandIn;
  signingSecret: string;
  /** The app's base URL (its `/slack/events` receives the payloads). */
  appUrl: () => string | undefined;
  /** The sandbox's own base URL, for `response_url`s that lead back here. */
  selfUrl: () => string;
  /** Something the page shows changed (modal stack, ephemeral replies). */
  changed: () => void;
}

interface ResponseTarget {
  user: string;
  channel: string;
  messageTs?: string;
  uses: number;
}

/** Modal stacks per person, response URLs, and the actions themselves. */
export class SandboxActors {
  /** user id → open modal view ids, bottom first. */
  readonly modals = new Map<string, string[]>();
  private readonly responseTargets = new Map<string, ResponseTarget>();

  constructor(private readonly o: SandboxActorsOptions) {
    o.standIn.onCall((call) => this.track(call));
  }

  /** Follows views.open / views.push so the page knows which modal each person sees. */
  private track(call: RecordedCall): void {
    if (!call.response.ok || (call.method !== 'views.open' && call.method !== 'views.push')) return;
    const view = call.response.view as { id: string };
    const stored = this.o.standIn.state.views.get(view.id);
    if (!stored?.user) return;
    const stack = call.method === 'views.open' ? [] : (this.modals.get(stored.user) ?? []);
    this.modals.set(stored.user, [...stack.filter((id) => id !== view.id), view.id]);
  }

  private actor(userId: string): SlackActor {
    const user = this.o.standIn.state.users.get(userId);
    if (!user || user.isBot) throw new SandboxInputError(`no person ${userId} in the sandbox workspace`);
    return { id: user.id, name: user.name, teamId: this.o.standIn.state.seed.team.id };
  }

  private view(userId: string, viewId: string): StoredView {
    const stored = this.o.standIn.state.views.get(viewId);
    const open = stored?.type === 'home' ? stored.user === userId : (this.modals.get(userId) ?? []).includes(viewId);
    if (!stored || !open) throw new SandboxInputError(`no open view ${viewId} for ${userId}`);
    return stored;
  }

  private responseUrl(target: Omit<ResponseTarget, 'uses'>): string {
    const id = randomBytes(12).toString('hex');
    this.responseTargets.set(id, { ...target, uses: 0 });
    return `${this.o.selfUrl()}/sandbox/response/${id}`;
  }

  /** Performs one action as a person; resolves with what the app answered. */
  async act(action: SandboxAction): Promise<ActResult> {
    const actor = this.actor(action.as);
    const trigger = (viewId?: string) => this.o.standIn.issueTriggerId({ user: actor.id, ...(viewId ? { viewId } : {}) });
    switch (action.kind) {
      case 'button': {
        const message = this.o.standIn.state.findMessage(action.channel, action.ts);
        if (!message) throw new SandboxInputError(`no message ${action.ts} in ${action.channel}`);
        const payload = buttonClickPayload({
          actor,
          actionId: action.actionId,
          value: action.value ?? '',
          ...(action.blockId ? { blockId: action.blockId } : {}),
          channel: action.channel,
          messageTs: action.ts,
          triggerId: trigger(),
          responseUrl: this.responseUrl({ user: actor.id, channel: action.channel, messageTs: action.ts }),
        });
        payload.message = { type: 'message', ts: message.ts, text: message.text, blocks: message.blocks ?? [], user: message.user };
        return this.post(signedInteraction(this.o.signingSecret, payload));
      }
      case 'view_button': {
        const view = this.view(actor.id, action.viewId);
        const payload = viewButtonClickPayload({
          actor,
          actionId: action.actionId,
          value: action.value ?? '',
          ...(action.blockId ? { blockId: action.blockId } : {}),
          view: viewRef(view),
          triggerId: trigger(view.id),
        });
        if (view.type === 'home') (payload.view as Record<string, unknown>).type = 'home';
        return this.post(signedInteraction(this.o.signingSecret, payload));
      }
      case 'view_submission': {
        const view = this.view(actor.id, action.viewId);
        if (view.type !== 'modal') throw new SandboxInputError('only modals are submitted');
        const payload = viewSubmissionPayload({ actor, view: viewRef(view), values: action.values, triggerId: trigger(view.id) });
        const result = await this.post(signedInteraction(this.o.signingSecret, payload));
        if (result.status === 200) this.applyViewResponse(actor.id, view.id, result);
        return result;
      }
      case 'view_closed':
        this.closeModal(actor.id, action.viewId);
        return { status: 200 };
      case 'slash': {
        const fields = slashCommandFields({
          actor,
          command: action.command ?? '/countersign',
          text: action.text,
          channel: action.channel,
          triggerId: trigger(),
          responseUrl: this.responseUrl({ user: actor.id, channel: action.channel }),
        });
        const result = await this.post(signedSlashCommand(this.o.signingSecret, fields));
        // An immediate reply in the acknowledgement shows like a response_url reply.
        if (result.status === 200 && result.body && typeof result.body === 'object') this.respond({ user: actor.id, channel: action.channel, uses: 0 }, result.body as ResponseBody);
        else if (result.status === 200 && typeof result.body === 'string' && result.body.trim()) this.respond({ user: actor.id, channel: action.channel, uses: 0 }, { text: result.body });
        return strip(result);
      }
      case 'home': {
        const ws = this.o.standIn.state;
        const dm = ws.openIm(actor.id).conversation;
        const event = {
          token: 'unused-verification-token',
          team_id: ws.seed.team.id,
          api_app_id: ws.seed.bot.appId,
          type: 'event_callback',
          event_id: `Ev${randomBytes(6).toString('hex').toUpperCase()}`,
          event_time: Math.floor(Date.now() / 1000),
          event: { type: 'app_home_opened', user: actor.id, channel: dm.id, tab: 'home', event_ts: (Date.now() / 1000).toFixed(6), ...(ws.homes.has(actor.id) ? { view: { id: ws.homes.get(actor.id) } } : {}) },
        };
        const body = JSON.stringify(event);
        return strip(await this.post({ body, headers: { 'content-type': 'application/json', ...slackSignature(this.o.signingSecret, body) } }));
      }
    }
  }

  private async post(request: SignedSlackRequest): Promise<ActResult & { body?: unknown }> {
    const appUrl = this.o.appUrl();
    if (!appUrl) return { status: 0, detail: 'the app is not running yet' };
    try {
      const res = await fetch(`${appUrl}/slack/events`, { method: 'POST', headers: request.headers, body: request.body });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        // a plain-text acknowledgement
      }
      return { status: res.status, body, ...(res.ok ? {} : { detail: text.slice(0, 300) }) };
    } catch (err) {
      return { status: 0, detail: `cannot reach the app: ${(err as Error).message}` };
    }
  }

  /** A view submission's acknowledgement, as Slack applies it. */
  private applyViewResponse(user: string, viewId: string, result: ActResult & { body?: unknown }): void {
    const body = (result.body && typeof result.body === 'object' ? result.body : {}) as { response_action?: string; errors?: Record<string, string>; view?: Record<string, unknown> };
    switch (body.response_action) {
      case 'errors':
        result.errors = body.errors ?? {};
        return;
      case 'update':
      case 'push': {
        if (!body.view) break;
        const ws = this.o.standIn.state;
        const current = ws.views.get(viewId)!;
        if (body.response_action === 'update') {
          current.view = body.view;
          current.hash = ws.viewHash();
        } else {
          const id = ws.nextId('V');
          ws.views.set(id, { id, type: 'modal', user, hash: ws.viewHash(), root_view_id: current.root_view_id, previous_view_id: current.id, view: body.view });
          this.modals.set(user, [...(this.modals.get(user) ?? []), id]);
        }
        break;
      }
      case 'clear':
        this.modals.delete(user);
        break;
      default:
        this.closeModal(user, viewId);
    }
    delete result.body;
    this.o.changed();
  }

  private closeModal(user: string, viewId: string): void {
    const stack = this.modals.get(user) ?? [];
    const at = stack.indexOf(viewId);
    if (at >= 0) this.modals.set(user, stack.slice(0, at));
    this.o.changed();
  }

  /** `POST /sandbox/response/:id`: a reply through a `response_url` (at most 5, as Slack allows). */
  responseUrlCalled(id: string, body: unknown): boolean {
    const target = this.responseTargets.get(id);
    if (!target || target.uses >= 5 || typeof body !== 'object' || body === null) return false;
    target.uses += 1;
    this.respond(target, body as ResponseBody);
    return true;
  }

  private respond(target: ResponseTarget, body: ResponseBody): void {
    const ws = this.o.standIn.state;
    const original = target.messageTs ? ws.findMessage(target.channel, target.messageTs) : undefined;
    if (original && body.delete_original) {
      const conversation = ws.conversations.get(target.channel);
      if (conversation) conversation.messages.splice(conversation.messages.indexOf(original), 1);
    } else if (original && body.replace_original) {
      original.text = body.text ?? original.text;
      if (Array.isArray(body.blocks)) original.blocks = body.blocks;
    } else if (body.text || Array.isArray(body.blocks)) {
      const message = { text: body.text ?? '', ...(Array.isArray(body.blocks) ? { blocks: body.blocks } : {}) };
      const conversation = ws.resolveChannel(target.channel);
      if (body.response_type === 'in_channel' && conversation) {
        conversation.messages.push({ channel: conversation.id, ts: ws.nextTs(), user: ws.seed.bot.userId, bot_id: ws.seed.bot.botId, ...message });
      } else {
        ws.ephemerals.push({ channel: conversation?.id ?? target.channel, user: target.user, ts: ws.nextTs(), ...message });
      }
    }
    this.o.changed();
  }
}

interface ResponseBody {
  text?: string;
  blocks?: unknown[];
  response_type?: 'ephemeral' | 'in_channel';
  replace_original?: boolean;
  delete_original?: boolean;
}

/** A request the page got wrong (unknown person, closed modal): answered 400. */
export class SandboxInputError extends Error {}

function viewRef(view: StoredView): { id: string; hash: string; callback_id: string; private_metadata: string } {
  return {
    id: view.id,
    hash: view.hash,
    callback_id: typeof view.view.callback_id === 'string' ? view.view.callback_id : '',
    private_metadata: typeof view.view.private_metadata === 'string' ? view.view.private_metadata : '',
  };
}

function strip(result: ActResult & { body?: unknown }): ActResult {
  const { body: _b, ...rest } = result;
  return rest;
}
