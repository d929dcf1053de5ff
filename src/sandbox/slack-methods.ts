import { validateHome, validateMessage, validateView, type SlackRejection } from '../../blocks/limits.js';
import type { Conversation, SandboxUser, SlackWorkspace, StoredMessage, StoredView } from './slack-workspace.js';

/**
 * The Web API methods the app uses, answering as Slack does: the same response shapes and the
 * same error codes for the same mistakes.
 */

export type Params = Record<string, unknown>;
export type ApiResult = Record<string, unknown>;

/** A Slack error answer (`ok: false`), with optional extra fields such as `response_metadata`. */
export class SlackApiError extends Error {
  constructor(
    readonly error: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(error);
  }
}

export interface MethodContext {
  ws: SlackWorkspace;
  now: () => number;
  /** Refuse blocks without fallback text (`no_text`); Slack itself only warns. */
  requireFallbackText: boolean;
  /** Refuse trigger ids that the workspace did not issue. */
  strictTriggers: boolean;
  permalinkBase: string;
}

type Method = (p: Params, ctx: MethodContext) => ApiResult;

/** How long a trigger id stays usable (Slack: 3 seconds). */
export const TRIGGER_TTL_MS = 3_000;

function str(p: Params, key: string): string | undefined {
  const v = p[key];
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

function required(p: Params, key: string, error = 'invalid_arguments'): string {
  const v = str(p, key);
  if (v === undefined || v === '') throw new SlackApiError(error, { response_metadata: { messages: [`[ERROR] missing required field: ${key}`] } });
  return v;
}

function reject(r: SlackRejection): never {
  throw new SlackApiError(r.error, r.messages.length ? { errors: r.messages.map((m) => m.replace(/^\[ERROR\] /, '')), response_metadata: { messages: r.messages } } : {});
}

function checkMessage(p: Params, ctx: MethodContext, previous?: StoredMessage): void {
  const blocks = p.blocks;
  if (typeof blocks === 'string') throw new SlackApiError('invalid_blocks_format');
  let text = p.text;
  if (!ctx.requireFallbackText && (text === undefined || text === '') && (blocks ?? previous?.blocks) !== undefined) text = '(no fallback text)';
  const r = validateMessage({ text, blocks });
  if (r) reject(r);
}

function channel(p: Params, ctx: MethodContext, key = 'channel'): Conversation {
  const ref = str(p, key);
  const c = ref ? ctx.ws.resolveChannel(ref) : undefined;
  if (!c) throw new SlackApiError('channel_not_found');
  return c;
}

function apiMessage(m: StoredMessage, withMetadata = true): ApiResult {
  const { channel: _c, metadata, ...rest } = m;
  return { type: 'message', ...rest, ...(metadata && withMetadata ? { metadata } : {}) };
}

/** `metadata` of chat.postMessage: `event_type` and an `event_payload` object, or Slack's error. */
function messageMetadata(p: Params): StoredMessage['metadata'] {
  const m = p.metadata;
  if (m === undefined || m === '') return undefined;
  const valid = typeof m === 'object' && m !== null && typeof (m as { event_type?: unknown }).event_type === 'string' && typeof (m as { event_payload?: unknown }).event_payload === 'object';
  if (!valid) throw new SlackApiError('invalid_metadata_format');
  return { event_type: (m as { event_type: string }).event_type, event_payload: (m as { event_payload: Record<string, unknown> }).event_payload };
}

/** Slack's `oldest` / `latest` bounds and `inclusive`, as a test of a message ts. */
function tsWindow(p: Params): (ts: string) => boolean {
  const oldest = Number(str(p, 'oldest') ?? '0');
  const latest = str(p, 'latest') === undefined ? Number.POSITIVE_INFINITY : Number(str(p, 'latest'));
  const inclusive = str(p, 'inclusive') === 'true' || p.inclusive === true || str(p, 'inclusive') === '1';
  if (Number.isNaN(oldest)) throw new SlackApiError('invalid_ts_oldest');
  if (Number.isNaN(latest)) throw new SlackApiError('invalid_ts_latest');
  return (ts) => {
    const t = Number(ts);
    return inclusive ? t >= oldest && t <= latest : t > oldest && t < latest;
  };
}

/**
 * One page of messages, Slack's way: `limit` (default 100, at most 999) at a time, a
 * `next_cursor` while more remain. The cursor is an offset, opaque to clients.
 */
function page(messages: StoredMessage[], p: Params, withMetadata: boolean): ApiResult {
  const limit = Math.min(999, Math.max(1, Number(str(p, 'limit') ?? '100') || 100));
  const cursor = str(p, 'cursor');
  const start = cursor ? Number(Buffer.from(cursor, 'base64').toString('utf8').replace(/^offset:/, '')) : 0;
  if (Number.isNaN(start) || start < 0) throw new SlackApiError('invalid_cursor');
  const slice = messages.slice(start, start + limit);
  const more = start + limit < messages.length;
  return {
    messages: slice.map((m) => apiMessage(m, withMetadata)),
    has_more: more,
    response_metadata: { next_cursor: more ? Buffer.from(`offset:${start + limit}`).toString('base64') : '' },
  };
}

/** Whether the bot can read a conversation's history: a member of a channel, or in the DM. */
function readable(c: Conversation, ctx: MethodContext): void {
  if (c.members && !c.isIm && !c.members.includes(ctx.ws.seed.bot.userId)) throw new SlackApiError('not_in_channel');
}

function apiUser(u: SandboxUser, teamId: string): ApiResult {
  const realName = u.realName ?? u.name;
  return {
    id: u.id,
    team_id: teamId,
    name: u.name,
    deleted: u.deleted ?? false,
    real_name: realName,
    tz: u.tz ?? 'Europe/London',
    is_bot: u.isBot ?? false,
    is_admin: false,
    profile: { real_name: realName, display_name: u.name, title: u.team ?? '', team: teamId, ...(u.email ? { email: u.email } : {}) },
  };
}

function user(ctx: MethodContext, id: string | undefined): SandboxUser {
  const u = id ? ctx.ws.users.get(id) : undefined;
  if (!u) throw new SlackApiError('user_not_found');
  return u;
}

function parsedView(p: Params): Record<string, unknown> {
  const v = p.view;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SlackApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] missing required field: view'] } });
  return v as Record<string, unknown>;
}

function apiView(s: StoredView, ctx: MethodContext): ApiResult {
  const v = s.view;
  return {
    id: s.id,
    team_id: ctx.ws.seed.team.id,
    type: s.type,
    blocks: v.blocks ?? [],
    private_metadata: v.private_metadata ?? '',
    callback_id: v.callback_id ?? '',
    external_id: v.external_id ?? '',
    state: { values: {} },
    hash: s.hash,
    ...(s.type === 'modal' ? { title: v.title, close: v.close ?? null, submit: v.submit ?? null, clear_on_close: v.clear_on_close ?? false, notify_on_close: v.notify_on_close ?? false } : {}),
    root_view_id: s.root_view_id,
    previous_view_id: s.previous_view_id,
    app_id: ctx.ws.seed.bot.appId,
    bot_id: ctx.ws.seed.bot.botId,
  };
}

/** Uses a trigger id once, as views.open and views.push do. */
function useTrigger(p: Params, ctx: MethodContext): { user?: string; viewId?: string } {
  const id = required(p, 'trigger_id');
  const trigger = ctx.ws.triggers.get(id);
  if (!trigger) {
    if (ctx.strictTriggers) throw new SlackApiError('invalid_trigger_id');
    return {};
  }
  if (trigger.used) throw new SlackApiError('exchanged_trigger_id');
  if (ctx.now() - trigger.issuedAt > TRIGGER_TTL_MS) throw new SlackApiError('expired_trigger_id');
  trigger.used = true;
  return { ...(trigger.user ? { user: trigger.user } : {}), ...(trigger.viewId ? { viewId: trigger.viewId } : {}) };
}

function openModal(p: Params, ctx: MethodContext, push: boolean): ApiResult {
  const view = parsedView(p);
  const r = validateView(view);
  if (r) reject(r);
  const from = useTrigger(p, ctx);
  const previous = push && from.viewId ? ctx.ws.views.get(from.viewId) : undefined;
  const id = ctx.ws.nextId('V');
  const stored: StoredView = {
    id,
    type: 'modal',
    ...(from.user ? { user: from.user } : {}),
    hash: ctx.ws.viewHash(),
    root_view_id: previous?.root_view_id ?? id,
    previous_view_id: previous?.id ?? null,
    view,
  };
  ctx.ws.views.set(id, stored);
  return { view: apiView(stored, ctx) };
}

export const METHODS: Record<string, Method> = {
  'auth.test': (_p, ctx) => {
    const { team, bot } = ctx.ws.seed;
    return { url: `${ctx.permalinkBase}/`, team: team.name, user: bot.name, team_id: team.id, user_id: bot.userId, bot_id: bot.botId, is_enterprise_install: false };
  },

  'chat.postMessage': (p, ctx) => {
    const c = channel(p, ctx);
    checkMessage(p, ctx);
    const threadTs = str(p, 'thread_ts');
    const { bot } = ctx.ws.seed;
    const message: StoredMessage = { channel: c.id, ts: ctx.ws.nextTs(), text: str(p, 'text') ?? '', user: bot.userId, bot_id: bot.botId };
    if (Array.isArray(p.blocks)) message.blocks = p.blocks;
    const metadata = messageMetadata(p);
    if (metadata) message.metadata = metadata;
    if (threadTs) {
      message.thread_ts = threadTs;
      const parent = c.messages.find((m) => m.ts === threadTs);
      if (parent) parent.reply_count = (parent.reply_count ?? 0) + 1;
    }
    c.messages.push(message);
    return { channel: c.id, ts: message.ts, message: apiMessage(message) };
  },

  'chat.update': (p, ctx) => {
    const c = channel(p, ctx);
    const ts = required(p, 'ts', 'message_not_found');
    const message = c.messages.find((m) => m.ts === ts);
    if (!message) throw new SlackApiError('message_not_found');
    if (message.user !== ctx.ws.seed.bot.userId) throw new SlackApiError('cant_update_message');
    checkMessage(p, ctx, message);
    if (p.text !== undefined) message.text = str(p, 'text') ?? '';
    if (Array.isArray(p.blocks)) {
      if (p.blocks.length === 0) delete message.blocks;
      else message.blocks = p.blocks;
    }
    message.edited = { user: ctx.ws.seed.bot.userId, ts: ctx.ws.nextTs() };
    return { channel: c.id, ts, text: message.text, message: apiMessage(message) };
  },

  'chat.postEphemeral': (p, ctx) => {
    const c = channel(p, ctx);
    const u = user(ctx, str(p, 'user'));
    if (c.members && !c.members.includes(u.id)) throw new SlackApiError('user_not_in_channel');
    checkMessage(p, ctx);
    const ts = ctx.ws.nextTs();
    ctx.ws.ephemerals.push({ channel: c.id, user: u.id, ts, text: str(p, 'text') ?? '', ...(Array.isArray(p.blocks) ? { blocks: p.blocks } : {}) });
    return { message_ts: ts };
  },

  'chat.getPermalink': (p, ctx) => {
    const c = channel(p, ctx);
    const ts = str(p, 'message_ts');
    const message = ts ? c.messages.find((m) => m.ts === ts) : undefined;
    if (!message || !ts) throw new SlackApiError('message_not_found');
    const thread = message.thread_ts ? `?thread_ts=${message.thread_ts}&cid=${c.id}` : '';
    return { channel: c.id, permalink: `${ctx.permalinkBase}/archives/${c.id}/p${ts.replace('.', '')}${thread}` };
  },

  'views.open': (p, ctx) => openModal(p, ctx, false),
  'views.push': (p, ctx) => openModal(p, ctx, true),

  'views.update': (p, ctx) => {
    const viewId = str(p, 'view_id');
    const externalId = str(p, 'external_id');
    if (!viewId && !externalId) throw new SlackApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] missing required field: view_id or external_id'] } });
    const stored = viewId ? ctx.ws.views.get(viewId) : [...ctx.ws.views.values()].find((v) => v.view.external_id === externalId);
    if (!stored) throw new SlackApiError('not_found');
    const hash = str(p, 'hash');
    if (hash && hash !== stored.hash) throw new SlackApiError('hash_conflict');
    const view = parsedView(p);
    const r = stored.type === 'home' ? validateHome(view) : validateView(view);
    if (r) reject(r);
    stored.view = view;
    stored.hash = ctx.ws.viewHash();
    return { view: apiView(stored, ctx) };
  },

  'views.publish': (p, ctx) => {
    const u = user(ctx, required(p, 'user_id'));
    const view = parsedView(p);
    const r = validateHome(view);
    if (r) reject(r);
    const existing = ctx.ws.views.get(ctx.ws.homes.get(u.id) ?? '');
    const hash = str(p, 'hash');
    if (existing && hash && hash !== existing.hash) throw new SlackApiError('hash_conflict');
    const id = existing?.id ?? ctx.ws.nextId('V');
    const stored: StoredView = { id, type: 'home', user: u.id, hash: ctx.ws.viewHash(), root_view_id: id, previous_view_id: null, view };
    ctx.ws.views.set(id, stored);
    ctx.ws.homes.set(u.id, id);
    return { view: apiView(stored, ctx) };
  },

  'users.info': (p, ctx) => ({ user: apiUser(user(ctx, str(p, 'user')), ctx.ws.seed.team.id) }),

  'users.lookupByEmail': (p, ctx) => {
    const email = str(p, 'email');
    const u = email ? ctx.ws.userByEmail(email) : undefined;
    if (!u) throw new SlackApiError('users_not_found');
    return { user: apiUser(u, ctx.ws.seed.team.id) };
  },

  'usergroups.users.list': (p, ctx) => {
    const id = str(p, 'usergroup');
    const group = id ? ctx.ws.usergroups.get(id) : undefined;
    if (!group) throw new SlackApiError('no_such_subteam');
    return { users: [...group.members] };
  },

  // Top-level messages, newest first; metadata only with include_all_metadata, as Slack does.
  'conversations.history': (p, ctx) => {
    const c = channel(p, ctx);
    readable(c, ctx);
    const inWindow = tsWindow(p);
    const messages = c.messages.filter((m) => !m.thread_ts && inWindow(m.ts)).reverse();
    return page(messages, p, str(p, 'include_all_metadata') === 'true' || p.include_all_metadata === true);
  },

  // The parent first, then its replies, oldest first.
  'conversations.replies': (p, ctx) => {
    const c = channel(p, ctx);
    readable(c, ctx);
    const ts = required(p, 'ts');
    const parent = c.messages.find((m) => m.ts === ts);
    if (!parent) throw new SlackApiError('thread_not_found');
    const inWindow = tsWindow(p);
    const messages = [parent, ...c.messages.filter((m) => m.thread_ts === ts && inWindow(m.ts))];
    return page(messages, p, str(p, 'include_all_metadata') === 'true' || p.include_all_metadata === true);
  },

  'conversations.open': (p, ctx) => {
    const channelId = str(p, 'channel');
    if (channelId) {
      const c = ctx.ws.conversations.get(channelId);
      if (!c) throw new SlackApiError('channel_not_found');
      return { no_op: true, already_open: true, channel: { id: c.id } };
    }
    const users = (str(p, 'users') ?? '').split(',').map((u) => u.trim()).filter(Boolean);
    if (users.length === 0) throw new SlackApiError('users_list_not_supplied');
    if (users.length > 1) throw new SlackApiError('not_supported', { response_metadata: { messages: ['[ERROR] the stand-in opens one-to-one conversations only'] } });
    const u = user(ctx, users[0]);
    const { conversation, existed } = ctx.ws.openIm(u.id);
    return { no_op: existed, already_open: existed, channel: { id: conversation.id } };
  },
};
