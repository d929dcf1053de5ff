import type { SlackWebApiStandIn, StoredMessage } from './slack-web-api.js';

/**
 * What one person sees in the sandbox page: every channel, their own direct message with the
 * app, the messages with the ephemerals meant for them, their open modals and App Home, plus
 * the scripted agent's activity. Plain JSON; the page renders it (and escapes all of it).
 */

/** One line of the scripted agent's activity, shown in the page's Agent panel. */
export interface ActivityEntry {
  /** Epoch ms. */
  at: number;
  agent: string;
  text: string;
  gateId?: string;
  state?: string;
}

export interface SnapshotMessage {
  ts: string;
  thread_ts?: string;
  user: string;
  text: string;
  blocks?: unknown[];
  edited?: boolean;
  reply_count?: number;
  /** Only you can see this message. */
  ephemeral?: boolean;
}

export interface Snapshot {
  version: number;
  me: string;
  team: { id: string; name: string };
  bot: { id: string; name: string };
  users: { id: string; name: string; realName: string; team?: string; isBot: boolean }[];
  usergroups: { id: string; handle: string; name?: string; members: string[] }[];
  conversations: { id: string; name: string; isIm: boolean; messages: SnapshotMessage[] }[];
  /** Open modals of `me`, bottom first. */
  modals: { id: string; hash: string; view: Record<string, unknown> }[];
  home?: { id: string; view: Record<string, unknown> };
  activity: ActivityEntry[];
}

function toSnapshot(m: StoredMessage): SnapshotMessage {
  return {
    ts: m.ts,
    ...(m.thread_ts ? { thread_ts: m.thread_ts } : {}),
    user: m.user,
    text: m.text,
    ...(m.blocks ? { blocks: m.blocks } : {}),
    ...(m.edited ? { edited: true } : {}),
    ...(m.reply_count ? { reply_count: m.reply_count } : {}),
  };
}

/** The workspace as `me` sees it now. */
export function snapshotFor(standIn: SlackWebApiStandIn, me: string, extra: { version: number; modals: string[]; activity: ActivityEntry[] }): Snapshot {
  const ws = standIn.state;
  const conversations: Snapshot['conversations'] = [];
  for (const c of ws.conversations.values()) {
    if (c.isIm && c.user !== me) continue;
    const ephemerals = ws.ephemerals
      .filter((e) => e.user === me && e.channel === c.id)
      .map((e): SnapshotMessage => ({ ts: e.ts, user: ws.seed.bot.userId, text: e.text, ...(e.blocks ? { blocks: e.blocks } : {}), ephemeral: true }));
    const messages = [...c.messages.map(toSnapshot), ...ephemerals].sort((a, b) => Number(a.ts) - Number(b.ts));
    conversations.push({ id: c.id, name: c.isIm ? ws.seed.bot.name : c.name, isIm: c.isIm, messages });
  }
  const homeId = ws.homes.get(me);
  const home = homeId ? ws.views.get(homeId) : undefined;
  return {
    version: extra.version,
    me,
    team: { id: ws.seed.team.id, name: ws.seed.team.name },
    bot: { id: ws.seed.bot.userId, name: ws.seed.bot.name },
    users: [...ws.users.values()]
      .filter((u) => !u.deleted)
      .map((u) => ({ id: u.id, name: u.name, realName: u.realName ?? u.name, ...(u.team ? { team: u.team } : {}), isBot: u.isBot ?? false })),
    usergroups: [...ws.usergroups.values()].map((g) => ({ id: g.id, handle: g.handle, ...(g.name ? { name: g.name } : {}), members: [...g.members] })),
    conversations,
    modals: extra.modals.flatMap((id) => {
      const v = ws.views.get(id);
      return v ? [{ id: v.id, hash: v.hash, view: v.view }] : [];
    }),
    ...(home ? { home: { id: home.id, view: home.view } } : {}),
    activity: extra.activity,
  };
}
