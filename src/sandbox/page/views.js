// The sandbox page's views: sidebar, a conversation with threads, App Home, the agent's
// activity, and modals. Pure DOM construction from the snapshot; app.js owns state and events.

import { renderBlocks, renderMessageBody } from './blocks.js';
import { renderText } from './mrkdwn.js';

export function el(tag, className, children = [], attrs = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) if (child !== undefined && child !== null) node.append(child);
  return node;
}

/** Resolves ids to names for mentions. */
export function directory(snapshot) {
  const users = new Map(snapshot.users.map((u) => [u.id, u]));
  const groups = new Map(snapshot.usergroups.map((g) => [g.id, g]));
  const channels = new Map(snapshot.conversations.map((c) => [c.id, c]));
  return { user: (id) => users.get(id), group: (id) => groups.get(id), channel: (id) => channels.get(id) };
}

const time = (ts) => {
  const d = new Date(Number(ts) * 1000);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
};

const initials = (name) => name.split(/[\s._-]+/).filter(Boolean).slice(0, 2).map((p) => p[0].toUpperCase()).join('');

/** The act-as picker: people grouped by team, bots left out. */
export function actAsPicker(snapshot, me, onPick) {
  const select = el('select', 'act-as', [], { id: 'act-as', 'aria-label': 'Act as' });
  const byTeam = new Map();
  for (const u of snapshot.users.filter((x) => !x.isBot)) {
    const team = u.team ?? 'no team';
    if (!byTeam.has(team)) byTeam.set(team, []);
    byTeam.get(team).push(u);
  }
  for (const team of [...byTeam.keys()].sort()) {
    const group = el('optgroup', '', [], { label: team });
    for (const u of byTeam.get(team).sort((a, b) => a.realName.localeCompare(b.realName))) {
      const option = el('option', '', [`${u.realName} (@${u.name})`], { value: u.id });
      option.selected = u.id === me;
      group.append(option);
    }
    select.append(group);
  }
  select.addEventListener('change', () => onPick(select.value));
  return select;
}

export function sidebar(snapshot, selected, onSelect) {
  const item = (key, label, extra) => {
    const a = el('a', `nav-item${key === selected ? ' active' : ''}`, [label, extra], { href: '#', 'data-conversation': key });
    a.addEventListener('click', (e) => {
      e.preventDefault();
      onSelect(key);
    });
    return a;
  };
  const channels = snapshot.conversations.filter((c) => !c.isIm);
  const dm = snapshot.conversations.find((c) => c.isIm);
  const count = (c) => {
    const n = c.messages.filter((m) => !m.ephemeral && (!m.thread_ts || m.thread_ts === m.ts)).length;
    return n ? el('span', 'badge', [String(n)]) : null;
  };
  return el('nav', 'sidebar', [
    el('div', 'nav-heading', ['Channels']),
    ...channels.map((c) => item(c.id, `# ${c.name}`, count(c))),
    el('div', 'nav-heading', ['Apps']),
    item('app', `${snapshot.bot.name}`, dm ? count(dm) : null),
    el('div', 'nav-heading', ['Scripted agent']),
    item('agent', 'Agent activity', snapshot.activity.length ? el('span', 'badge', [String(snapshot.activity.length)]) : null),
  ]);
}

function author(snapshot, dir, message) {
  if (message.user === snapshot.bot.id) return { name: snapshot.bot.name, bot: true };
  const u = dir.user(message.user);
  return { name: u ? u.realName : message.user, bot: false };
}

function messageView(snapshot, dir, message, onAction, replies) {
  const who = author(snapshot, dir, message);
  const head = el('div', 'msg-head', [
    el('span', 'msg-author', [who.name]),
    who.bot ? el('span', 'app-badge', ['APP']) : null,
    el('span', 'msg-time', [time(message.ts)]),
    message.edited ? el('span', 'msg-edited', ['(edited)']) : null,
  ]);
  const body = renderMessageBody(message, { dir, onAction: (element, block) => onAction(message, element, block) });
  const node = el(
    'article',
    `message${message.ephemeral ? ' ephemeral' : ''}`,
    [
      el('div', `avatar${who.bot ? ' avatar-bot' : ''}`, [who.bot ? 'CS' : initials(who.name)]),
      el('div', 'msg-main', [head, body, message.ephemeral ? el('div', 'ephemeral-note', ['Only visible to you']) : null]),
    ],
    { 'data-ts': message.ts },
  );
  if (!replies?.length) return node;
  const thread = el('div', 'thread', [el('div', 'thread-count', [`${replies.length} ${replies.length === 1 ? 'reply' : 'replies'}`])]);
  for (const reply of replies) thread.append(messageView(snapshot, dir, reply, onAction));
  return el('div', 'message-with-thread', [node, thread]);
}

/** A channel or the app's messages tab: top-level messages, each with its thread below. */
export function conversationView(snapshot, conversation, onAction) {
  const dir = directory(snapshot);
  const top = conversation.messages.filter((m) => !m.thread_ts || m.thread_ts === m.ts);
  const list = el('div', 'messages', [], { 'data-channel': conversation.id });
  if (top.length === 0) list.append(el('div', 'empty', ['No messages yet.']));
  for (const m of top) {
    const replies = conversation.messages.filter((r) => r.thread_ts === m.ts && r.ts !== m.ts);
    list.append(messageView(snapshot, dir, m, (message, element, block) => onAction(conversation.id, message, element, block), replies));
  }
  return list;
}

export function homeView(snapshot, onAction) {
  if (!snapshot.home) return el('div', 'empty', ['The app has not published a Home tab for you yet.']);
  const dir = directory(snapshot);
  return el('div', 'home', [renderBlocks(snapshot.home.view.blocks ?? [], { dir, onAction: (element, block) => onAction(snapshot.home, element, block) })]);
}

export function activityView(snapshot) {
  if (snapshot.activity.length === 0) return el('div', 'empty', ['The scripted agent has not done anything yet.']);
  const list = el('ol', 'activity');
  for (const a of snapshot.activity) {
    const d = new Date(a.at);
    list.append(
      el('li', `activity-item${a.state ? ` state-${a.state}` : ''}`, [
        el('span', 'msg-time', [d.toLocaleTimeString()]),
        el('span', 'activity-agent', [a.agent]),
        a.state ? el('span', `state state-${a.state}`, [a.state]) : null,
        el('span', 'activity-text', [a.text]),
        a.gateId ? el('code', 'gate-id', [a.gateId]) : null,
      ]),
    );
  }
  return list;
}

/** The top modal of the stack, with its inputs collected for submission. */
export function modalView(snapshot, modal, errors, handlers) {
  const dir = directory(snapshot);
  const inputs = [];
  const view = modal.view;
  const body = renderBlocks(view.blocks ?? [], { dir, inputs, errors, onAction: (element, block) => handlers.action(modal, element, block) });
  const close = el('button', 'btn', [renderText(view.close ?? { type: 'plain_text', text: 'Cancel' }, dir)], { type: 'button' });
  close.addEventListener('click', () => handlers.close(modal));
  const footer = el('div', 'dialog-footer', [close]);
  if (view.submit) {
    const submit = el('button', 'btn btn-primary', [renderText(view.submit, dir)], { type: 'button' });
    submit.addEventListener('click', async () => {
      submit.disabled = true;
      try {
        await handlers.submit(modal, inputs);
      } finally {
        submit.disabled = false;
      }
    });
    footer.append(submit);
  }
  const box = el('div', 'dialog modal', [el('h2', 'dialog-title', [renderText(view.title, dir)]), el('div', 'dialog-body', [body]), footer], {
    role: 'dialog',
    'aria-modal': 'true',
    'data-view-id': modal.id,
  });
  return el('div', 'overlay', [box]);
}
