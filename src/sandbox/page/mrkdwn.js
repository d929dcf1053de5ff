// Slack mrkdwn, rendered into DOM nodes. Every piece of text becomes a text node: nothing the
// app or an agent wrote is ever parsed as HTML. Supported: *bold*, _italic_, ~strike~, `code`,
// ```preformatted```, > quotes, <links|with text>, <@user>, <!subteam^group>, <#channel>,
// <!here>, <!date^…|fallback>, :emoji: shortcodes and Slack's &amp; &lt; &gt; escapes.

const EMOJI = {
  white_check_mark: '✅', x: '❌', warning: '⚠️', no_entry: '⛔', no_entry_sign: '🚫', lock: '🔒', key: '🔑',
  hourglass: '⌛', hourglass_flowing_sand: '⏳', information_source: 'ℹ️', grey_question: '❔',
  large_green_circle: '🟢', large_yellow_circle: '🟡', large_orange_circle: '🟠', red_circle: '🔴',
  rotating_light: '🚨', eyes: '👀', thumbsup: '👍', '+1': '👍', tada: '🎉', memo: '📝', clock3: '🕒',
  arrow_right: '➡️', link: '🔗', shield: '🛡️', bust_in_silhouette: '👤', robot_face: '🤖', ice_cube: '🧊',
  snowflake: '❄️', sunny: '☀️', alarm_clock: '⏰', mag: '🔍', bell: '🔔', pushpin: '📌', hammer_and_wrench: '🛠️',
};

/** Replaces :shortcode: with the emoji, leaving unknown codes as they are. */
export function emojify(text) {
  return text.replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] ?? m);
}

function unescapeSlack(text) {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function el(tag, className, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) node.append(child);
  return node;
}

const SAFE_LINK = /^(https?:|mailto:)/i;

const pad = (n) => String(n).padStart(2, '0');
function formatDate(seconds, format) {
  const d = new Date(seconds * 1000);
  const months = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
  const today = new Date();
  const dayDiff = Math.round((new Date(d.getFullYear(), d.getMonth(), d.getDate()) - new Date(today.getFullYear(), today.getMonth(), today.getDate())) / 86_400_000);
  const pretty = (fallback) => (dayDiff === 0 ? 'today' : dayDiff === -1 ? 'yesterday' : dayDiff === 1 ? 'tomorrow' : fallback);
  const short = `${months[d.getMonth()].slice(0, 3)} ${d.getDate()}`;
  const long = `${['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'][d.getDay()]}, ${months[d.getMonth()]} ${d.getDate()}, ${d.getFullYear()}`;
  const values = {
    date_num: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`,
    date: `${months[d.getMonth()]} ${d.getDate()}, ${d.getFullYear()}`,
    date_short: short,
    date_long: long,
    date_pretty: pretty(`${months[d.getMonth()]} ${d.getDate()}, ${d.getFullYear()}`),
    date_short_pretty: pretty(short),
    date_long_pretty: pretty(long),
    time: `${pad(d.getHours())}:${pad(d.getMinutes())}`,
    time_secs: `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`,
    ago: agoText(seconds),
  };
  return format.replace(/\{([a-z_]+)\}/g, (m, key) => values[key] ?? m);
}

function agoText(seconds) {
  const diff = Math.round(Date.now() / 1000 - seconds);
  const abs = Math.abs(diff);
  const unit = abs < 60 ? [abs, 'second'] : abs < 3600 ? [Math.round(abs / 60), 'minute'] : abs < 86400 ? [Math.round(abs / 3600), 'hour'] : [Math.round(abs / 86400), 'day'];
  const text = `${unit[0]} ${unit[1]}${unit[0] === 1 ? '' : 's'}`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** One `<…>` token: a mention, a link, a date. */
function special(inner, dir) {
  const [target, label] = splitOnce(inner, '|');
  if (target.startsWith('@')) {
    const user = dir.user(target.slice(1));
    return el('span', 'mention', [`@${label || (user ? user.name : target.slice(1))}`]);
  }
  if (target.startsWith('#')) {
    const channel = dir.channel(target.slice(1));
    return el('span', 'mention', [`#${label || (channel ? channel.name : target.slice(1))}`]);
  }
  if (target.startsWith('!subteam^')) {
    const group = dir.group(target.slice('!subteam^'.length));
    return el('span', 'mention', [label || `@${group ? group.handle : target.slice(9)}`]);
  }
  if (target.startsWith('!date^')) {
    const [, ts, format] = target.split('^');
    const seconds = Number(ts);
    const node = el('time', 'date', [Number.isFinite(seconds) && format ? formatDate(seconds, format) : unescapeSlack(label ?? ts)]);
    if (Number.isFinite(seconds)) node.title = new Date(seconds * 1000).toISOString();
    return node;
  }
  if (target.startsWith('!')) return el('span', 'mention', [`@${label || target.slice(1)}`]);
  const href = unescapeSlack(target);
  if (!SAFE_LINK.test(href)) return document.createTextNode(unescapeSlack(label || target));
  const a = el('a', '', [unescapeSlack(label || target)]);
  a.href = href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  return a;
}

function splitOnce(text, sep) {
  const at = text.indexOf(sep);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

const INLINE = [
  { re: /<([^<>\n]+)>/, make: (m, dir) => special(m[1], dir) },
  { re: /`([^`\n]+)`/, make: (m) => el('code', '', [unescapeSlack(m[1])]) },
  { re: /(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])/, make: (m, dir) => el('strong', '', inline(m[1], dir)) },
  { re: /(?<![\w_])_(?!\s)([^_\n]+?)_(?![\w_])/, make: (m, dir) => el('em', '', inline(m[1], dir)) },
  { re: /(?<![\w~])~(?!\s)([^~\n]+?)~(?![\w~])/, make: (m, dir) => el('s', '', inline(m[1], dir)) },
];

/** Inline formatting of one line: the earliest token first, then the rest. */
function inline(text, dir) {
  const out = [];
  let rest = text;
  while (rest) {
    let best;
    for (const rule of INLINE) {
      const m = rule.re.exec(rest);
      if (m && (!best || m.index < best.m.index)) best = { m, rule };
    }
    if (!best) {
      out.push(document.createTextNode(emojify(unescapeSlack(rest))));
      break;
    }
    if (best.m.index > 0) out.push(document.createTextNode(emojify(unescapeSlack(rest.slice(0, best.m.index)))));
    out.push(best.rule.make(best.m, dir));
    rest = rest.slice(best.m.index + best.m[0].length);
  }
  return out;
}

/**
 * Renders mrkdwn into a fragment. `dir` resolves ids to names: `{ user(id), group(id), channel(id) }`.
 */
export function renderMrkdwn(text, dir) {
  const fragment = document.createDocumentFragment();
  const parts = String(text).split('```');
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      fragment.append(el('pre', 'pre', [unescapeSlack(part.replace(/^\n/, ''))]));
      return;
    }
    const lines = part.split('\n');
    lines.forEach((line, j) => {
      if (line.startsWith('&gt;') || line.startsWith('>')) {
        fragment.append(el('span', 'quote', inline(line.replace(/^(&gt;|>) ?/, ''), dir)));
      } else {
        fragment.append(...inline(line, dir));
        if (j < lines.length - 1) fragment.append(document.createElement('br'));
      }
    });
  });
  return fragment;
}

/** Renders a Block Kit text object (plain_text or mrkdwn). */
export function renderText(textObject, dir) {
  if (!textObject) return document.createDocumentFragment();
  if (textObject.type === 'mrkdwn') return renderMrkdwn(textObject.text ?? '', dir);
  const plain = String(textObject.text ?? '');
  return document.createTextNode(textObject.emoji === false ? plain : emojify(plain));
}
