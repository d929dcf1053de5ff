/**
 * The state behind the Slack Web API stand-in: a directory of people and user groups, channels
 * and direct messages with their messages, ephemerals, open views and App Home tabs. Plain data
 * that a test or the sandbox page can read directly; no HTTP here.
 */

/** A person in the sandbox workspace. `team` is a label (e.g. `payments`) shown by the sandbox. */
export interface SandboxUser {
  id: string;
  name: string;
  realName?: string;
  email?: string;
  team?: string;
  isBot?: boolean;
  deleted?: boolean;
  tz?: string;
}

export interface SandboxUsergroup {
  id: string;
  handle: string;
  name?: string;
  members: string[];
}

export interface SandboxChannel {
  id: string;
  name: string;
  /** When set, only these users may receive ephemerals here. */
  members?: string[];
}

export interface StoredMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  text: string;
  blocks?: unknown[];
  user: string;
  bot_id?: string;
  edited?: { user: string; ts: string };
  reply_count?: number;
  /** Message metadata as posted (`event_type`, `event_payload`). */
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
}

export interface StoredEphemeral {
  channel: string;
  user: string;
  ts: string;
  text: string;
  blocks?: unknown[];
}

/** A channel or a direct message conversation (`D…`, one per user). */
export interface Conversation {
  id: string;
  name: string;
  isIm: boolean;
  /** The other party of a direct message. */
  user?: string;
  members?: string[];
  messages: StoredMessage[];
}

export interface StoredView {
  id: string;
  type: 'modal' | 'home';
  /** The user the view was opened for or published to, when known. */
  user?: string;
  hash: string;
  root_view_id: string;
  previous_view_id: string | null;
  /** The view as the app sent it. */
  view: Record<string, unknown>;
}

export interface Trigger {
  id: string;
  issuedAt: number;
  user?: string;
  /** The modal the trigger came from (for views.push). */
  viewId?: string;
  used: boolean;
}

export interface WorkspaceSeed {
  team: { id: string; name: string; domain: string };
  bot: { userId: string; botId: string; appId: string; name: string };
  users: SandboxUser[];
  usergroups: SandboxUsergroup[];
  channels: SandboxChannel[];
}

/** Mutable workspace state. Every id it hands out is stable for one seed and one clock. */
export class SlackWorkspace {
  readonly users = new Map<string, SandboxUser>();
  readonly usergroups = new Map<string, SandboxUsergroup>();
  readonly conversations = new Map<string, Conversation>();
  readonly ephemerals: StoredEphemeral[] = [];
  readonly views = new Map<string, StoredView>();
  /** App Home view id per user. */
  readonly homes = new Map<string, string>();
  readonly triggers = new Map<string, Trigger>();
  private lastMicros = 0;
  private counter = 0;

  constructor(
    readonly seed: WorkspaceSeed,
    private readonly now: () => number,
  ) {
    this.load();
  }

  private load(): void {
    for (const u of [...this.seed.users, { id: this.seed.bot.userId, name: this.seed.bot.name, isBot: true }]) this.users.set(u.id, { ...u });
    for (const g of this.seed.usergroups) this.usergroups.set(g.id, { ...g, members: [...g.members] });
    for (const c of this.seed.channels) {
      this.conversations.set(c.id, { id: c.id, name: c.name, isIm: false, ...(c.members ? { members: [...c.members] } : {}), messages: [] });
    }
  }

  /** Back to the seed: the directory as configured, no messages, views or triggers. */
  reset(): void {
    this.users.clear();
    this.usergroups.clear();
    this.conversations.clear();
    this.ephemerals.length = 0;
    this.views.clear();
    this.homes.clear();
    this.triggers.clear();
    this.lastMicros = 0;
    this.counter = 0;
    this.load();
  }

  addUser(user: SandboxUser): void {
    this.users.set(user.id, { ...user });
  }

  addUsergroup(group: SandboxUsergroup): void {
    this.usergroups.set(group.id, { ...group, members: [...group.members] });
  }

  addChannel(channel: SandboxChannel): Conversation {
    const conversation: Conversation = { id: channel.id, name: channel.name, isIm: false, ...(channel.members ? { members: [...channel.members] } : {}), messages: [] };
    this.conversations.set(channel.id, conversation);
    return conversation;
  }

  /** A message timestamp as Slack writes them (`seconds.micros`), strictly increasing. */
  nextTs(): string {
    const micros = Math.max(Math.floor(this.now() * 1000), this.lastMicros + 1);
    this.lastMicros = micros;
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
  }

  /** A fresh id with Slack's one-letter prefix (`V…`, `D…`). */
  nextId(prefix: string): string {
    this.counter += 1;
    return `${prefix}0${this.counter.toString(36).toUpperCase().padStart(8, '0')}`;
  }

  userByEmail(email: string): SandboxUser | undefined {
    const wanted = email.trim().toLowerCase();
    for (const u of this.users.values()) if (u.email?.toLowerCase() === wanted && !u.deleted) return u;
    return undefined;
  }

  /** The direct message conversation with `userId`, created on first use. */
  openIm(userId: string): { conversation: Conversation; existed: boolean } {
    for (const c of this.conversations.values()) if (c.isIm && c.user === userId) return { conversation: c, existed: true };
    const conversation: Conversation = { id: this.nextId('D'), name: userId, isIm: true, user: userId, messages: [] };
    this.conversations.set(conversation.id, conversation);
    return { conversation, existed: false };
  }

  /** Channel id, `#name`, `name`, or a user id (its direct message), as chat.postMessage accepts. */
  resolveChannel(ref: string): Conversation | undefined {
    const byId = this.conversations.get(ref);
    if (byId) return byId;
    if (this.users.has(ref)) return this.openIm(ref).conversation;
    const name = ref.startsWith('#') ? ref.slice(1) : ref;
    for (const c of this.conversations.values()) if (!c.isIm && c.name === name) return c;
    return undefined;
  }

  /** Messages of a conversation, top level and replies, in posting order. */
  messages(channel: string): StoredMessage[] {
    return this.resolveChannel(channel)?.messages ?? [];
  }

  findMessage(channel: string, ts: string): StoredMessage | undefined {
    return this.conversations.get(channel)?.messages.find((m) => m.ts === ts);
  }

  /** A trigger id, as Slack sends with an interaction; valid for 3 seconds, once. */
  issueTrigger(options: { user?: string; viewId?: string } = {}): string {
    const id = `${this.counter + 1}.${Math.floor(this.now())}.${this.nextId('t').slice(2).toLowerCase()}`;
    this.triggers.set(id, { id, issuedAt: this.now(), used: false, ...options });
    return id;
  }

  viewHash(): string {
    return `${Math.floor(this.now() / 1000)}.${this.nextId('h').slice(2).toLowerCase()}`;
  }
}
