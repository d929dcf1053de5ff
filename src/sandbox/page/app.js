// The sandbox page: act as any person of the workspace, read what the app posted, click its
// buttons, fill its modals, run its slash command. Every action goes to the sandbox server,
// which signs it and posts it to the app exactly as Slack would; changes arrive over SSE.

import { activityView, actAsPicker, conversationView, el, homeView, modalView, sidebar } from './views.js';

const state = {
  config: { defaultActor: null, hint: null },
  me: '',
  selected: '',
  appTab: 'home',
  snapshot: null,
  modalErrors: {},
  modalKey: '',
  shellKey: '',
  pickerKey: '',
  fetching: false,
  again: false,
};

// A click is a press and a release on the same element. Rebuilding the page between the two
// (an update arriving over SSE while the app is busy) replaces the button under the pointer, and
// the browser then fires no click at all: the click is lost, silently. So while a button or link
// is pressed, renders wait; the one that was due runs once the click has been dispatched.
const press = { down: false, due: false, timer: 0 };

function pressed(e) {
  if (e.button !== 0 || !(e.target instanceof Element) || !e.target.closest('button, a')) return;
  press.down = true;
  clearTimeout(press.timer);
  // A release the page never sees (the pointer left the window) must not freeze it.
  press.timer = setTimeout(released, 2000);
}

function released() {
  if (!press.down) return;
  press.down = false;
  clearTimeout(press.timer);
  // After this event: the click follows the release in the same task.
  setTimeout(() => {
    if (press.down || !press.due) return;
    press.due = false;
    render();
  }, 0);
}

document.addEventListener('pointerdown', pressed, true);
document.addEventListener('pointerup', released, true);
document.addEventListener('pointercancel', released, true);

const $ = (id) => document.getElementById(id);

function toast(text, kind = 'error') {
  const node = el('div', `toast toast-${kind}`, [text], { role: 'status' });
  $('toasts').append(node);
  setTimeout(() => node.remove(), 6000);
}

async function act(action) {
  const res = await fetch('/sandbox/act', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ as: state.me, ...action }) });
  const result = await res.json().catch(() => ({}));
  if (!res.ok) toast(result.error ?? `the sandbox answered ${res.status}`);
  else if (result.status !== 200) toast(result.detail ? `app answered ${result.status}: ${result.detail}` : `the app answered ${result.status}`);
  await refresh();
  return result;
}

async function refresh() {
  if (!state.me) return;
  if (state.fetching) {
    state.again = true;
    return;
  }
  state.fetching = true;
  try {
    const res = await fetch(`/sandbox/snapshot?as=${encodeURIComponent(state.me)}`);
    if (res.ok) {
      state.snapshot = await res.json();
      render();
    }
  } finally {
    state.fetching = false;
    if (state.again) {
      state.again = false;
      void refresh();
    }
  }
}

function pickDefaultConversation(snapshot) {
  const channels = snapshot.conversations.filter((c) => !c.isIm);
  const latest = (c) => Math.max(0, ...c.messages.map((m) => Number(m.ts)));
  const busiest = [...channels].sort((a, b) => latest(b) - latest(a))[0];
  return busiest?.id ?? channels[0]?.id ?? 'app';
}

function saveLocation() {
  const me = state.snapshot?.users.find((u) => u.id === state.me);
  const params = new URLSearchParams();
  if (me) params.set('as', me.name);
  if (state.selected) params.set('c', state.selected);
  history.replaceState(null, '', `?${params}`);
}

function setMe(id) {
  state.me = id;
  state.modalErrors = {};
  state.modalKey = '';
  state.shellKey = '';
  saveLocation();
  void refresh().then(() => {
    if (state.selected === 'app' && state.appTab === 'home') void act({ kind: 'home' });
  });
}

function select(key) {
  state.selected = key;
  state.shellKey = '';
  saveLocation();
  render();
  if (key === 'app' && state.appTab === 'home') void act({ kind: 'home' });
}

function onMessageAction(channel, message, element, block) {
  return act({ kind: 'button', channel, ts: message.ts, actionId: element.action_id, blockId: block.block_id, value: element.value });
}

function composer(channelId) {
  const input = el('input', 'composer-input', [], { type: 'text', placeholder: '/countersign help', 'aria-label': 'Slash command' });
  input.addEventListener('keydown', async (e) => {
    if (e.key !== 'Enter') return;
    const text = input.value.trim();
    if (!text) return;
    const m = /^(\/\S+)\s*([\s\S]*)$/.exec(text);
    if (!m) {
      toast('The sandbox sends slash commands, e.g. /countersign help', 'info');
      return;
    }
    input.value = '';
    await act({ kind: 'slash', channel: channelId, command: m[1], text: m[2] });
  });
  return el('div', 'composer', [input, el('div', 'composer-hint', ['Runs a slash command as the person you act as; the app answers here, visible only to you.'])]);
}

function stickToBottom(scroller, update) {
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  const top = scroller.scrollTop;
  update();
  scroller.scrollTop = atBottom ? scroller.scrollHeight : top;
}

function renderMain(snapshot) {
  const main = $('main');
  const key = `${state.selected}|${state.appTab}|${state.me}`;
  const conversation = snapshot.conversations.find((c) => c.id === state.selected);
  const dm = snapshot.conversations.find((c) => c.isIm);
  if (state.shellKey !== key) {
    state.shellKey = key;
    main.replaceChildren();
    if (state.selected === 'agent') {
      main.append(el('header', 'main-header', [el('h2', '', ['Agent activity']), el('p', 'muted', ['What the scripted agent asked for, and what happened to each gate.'])]), el('div', 'scroller', [], { id: 'content' }));
    } else if (state.selected === 'app') {
      const tab = (name, label) => {
        const b = el('button', `tab${state.appTab === name ? ' active' : ''}`, [label], { type: 'button' });
        b.addEventListener('click', () => {
          state.appTab = name;
          select('app');
        });
        return b;
      };
      main.append(el('header', 'main-header', [el('h2', '', [snapshot.bot.name, el('span', 'app-badge', ['APP'])]), el('div', 'tabs', [tab('home', 'Home'), tab('messages', 'Messages')])]), el('div', 'scroller', [], { id: 'content' }));
      if (state.appTab === 'messages' && dm) main.append(composer(dm.id));
    } else if (conversation) {
      main.append(el('header', 'main-header', [el('h2', '', [`# ${conversation.name}`])]), el('div', 'scroller', [], { id: 'content' }), composer(conversation.id));
    }
  }
  const content = $('content');
  if (!content) return;
  stickToBottom(content, () => {
    if (state.selected === 'agent') content.replaceChildren(activityView(snapshot));
    else if (state.selected === 'app' && state.appTab === 'home') content.replaceChildren(homeView(snapshot, (home, element, block) => act({ kind: 'view_button', viewId: home.id, actionId: element.action_id, blockId: block.block_id, value: element.value })));
    else if (state.selected === 'app') content.replaceChildren(dm ? conversationView(snapshot, dm, onMessageAction) : el('div', 'empty', ['No messages from the app yet.']));
    else if (conversation) content.replaceChildren(conversationView(snapshot, conversation, onMessageAction));
  });
}

function renderModal(snapshot) {
  const top = snapshot.modals[snapshot.modals.length - 1];
  const key = top ? `${top.id}:${top.hash}:${JSON.stringify(state.modalErrors[top.id] ?? {})}` : '';
  if (key === state.modalKey) return;
  state.modalKey = key;
  const root = $('modal-root');
  root.replaceChildren();
  if (!top) return;
  root.append(
    modalView(snapshot, top, state.modalErrors[top.id], {
      action: (modal, element, block) => act({ kind: 'view_button', viewId: modal.id, actionId: element.action_id, blockId: block.block_id, value: element.value }),
      close: (modal) => act({ kind: 'view_closed', viewId: modal.id }),
      submit: async (modal, inputs) => {
        const values = {};
        for (const i of inputs) {
          values[i.blockId] ??= {};
          values[i.blockId][i.actionId] = { type: i.type, value: i.field.value === '' ? null : i.field.value };
        }
        const result = await act({ kind: 'view_submission', viewId: modal.id, values });
        state.modalErrors[modal.id] = result.errors ?? {};
        state.modalKey = '';
        if (state.snapshot) renderModal(state.snapshot);
      },
    }),
  );
}

function render() {
  const snapshot = state.snapshot;
  if (!snapshot) return;
  if (press.down) {
    press.due = true;
    return;
  }
  if (!state.selected || (!['app', 'agent'].includes(state.selected) && !snapshot.conversations.some((c) => c.id === state.selected))) {
    state.selected = pickDefaultConversation(snapshot);
    saveLocation();
  }
  $('workspace').textContent = snapshot.team.name;
  document.body.dataset.actingAs = snapshot.me;
  // Rebuilt only when it changes: rebuilding would close a picker the user has open.
  const pickerKey = `${state.me}|${snapshot.users.length}`;
  if (state.pickerKey !== pickerKey) {
    state.pickerKey = pickerKey;
    $('picker').replaceChildren(actAsPicker(snapshot, state.me, setMe));
  }
  $('sidebar').replaceChildren(sidebar(snapshot, state.selected, select));
  renderMain(snapshot);
  renderModal(snapshot);
}

async function start() {
  state.config = await (await fetch('/sandbox/config')).json();
  if (state.config.hint) $('hint').textContent = state.config.hint;
  const params = new URLSearchParams(location.search);
  state.selected = params.get('c') ?? '';
  state.me = state.config.defaultActor ?? '';
  await refresh();
  const wanted = params.get('as');
  const person = state.snapshot?.users.find((u) => u.name === wanted || u.id === wanted);
  if (person && person.id !== state.me) setMe(person.id);
  const events = new EventSource('/sandbox/stream');
  events.addEventListener('change', () => void refresh());
  events.addEventListener('error', () => $('status').classList.add('offline'));
  events.addEventListener('open', () => $('status').classList.remove('offline'));
}

void start();
