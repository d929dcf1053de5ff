/**
 * Masks secrets in text shown to reviewers. Display only: the gate's request, and so its
 * evidence hash, keep the original; a renderer says how many secrets it masked so nobody is
 * misled about what the agent will really send.
 */

/** What a masked secret is replaced with. */
export const MASK = '•••masked•••';

export interface MaskResult {
  text: string;
  /** How many secrets were replaced. */
  masked: number;
}

/** A pattern and how to rebuild the match with the secret part replaced. */
interface Rule {
  name: string;
  pattern: RegExp;
  replace: (match: string, ...groups: string[]) => string;
}

const whole = () => MASK;

/**
 * Key names whose values are secrets in `key=value`, `key: value` and `"key": "value"` forms.
 * Bounded repetitions keep matching linear on long evidence (no catastrophic backtracking).
 */
const SECRET_KEY = String.raw`[A-Za-z0-9_.-]{0,64}?(?:password|passwd|secret|token|api[_-]?key|apikey|private[_-]?key|access[_-]?key|credentials?)[A-Za-z0-9_.-]{0,64}`;
const VALUE = String.raw`(?:"([^"\n]{1,1000})"|'([^'\n]{1,1000})'|([^\s"'&,;]{1,1000}))`;

const RULES: Rule[] = [
  // Provider tokens with recognisable shapes come first, before the generic assignments.
  { name: 'aws-access-key-id', pattern: /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g, replace: whole },
  { name: 'github-token', pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})\b/g, replace: whole },
  { name: 'slack-token', pattern: /\bxox[abposre]-[A-Za-z0-9-]{10,255}|\bxapp-\d-[A-Za-z0-9-]{10,255}/g, replace: whole },
  { name: 'stripe-key', pattern: /\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,255}\b/g, replace: whole },
  { name: 'jwt', pattern: /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, replace: whole },
  {
    name: 'url-credentials',
    pattern: /\b([a-z][a-z0-9+.-]{1,20}:\/\/[^\s/:@'"]{1,256}):([^\s/@'"]{1,256})@/gi,
    replace: (_m, head) => `${head}:${MASK}@`,
  },
  {
    // Authorization: Bearer x / Basic x / Token x, as a header or an assignment
    name: 'authorization-header',
    pattern: /\b(Authorization["']?\s*[:=]\s*["']?(?:(?:Bearer|Basic|Token|Bot)\s+)?)([A-Za-z0-9._~+/-]{8,}=*)/gi,
    replace: (_m, head) => `${head}${MASK}`,
  },
  {
    // a bare bearer token that looks like one (long, with a digit), not the word in prose
    name: 'bearer-token',
    pattern: /\b(Bearer\s+)(?=[A-Za-z._~+/-]{0,255}\d)([A-Za-z0-9._~+/-]{16,}=*)/g,
    replace: (_m, head) => `${head}${MASK}`,
  },
  {
    // "password": "x" and 'token': 'x' (JSON, YAML, Python dicts)
    name: 'quoted-assignment',
    pattern: new RegExp(String.raw`(["'])(${SECRET_KEY})\1(\s*[:=]\s*)(?:"((?:\\.|[^"\\\n]){1,1000})"|'((?:\\.|[^'\\\n]){1,1000})'|(-?[0-9][0-9.]{0,64}))`, 'gi'),
    replace: (m, q, key, sep, dq, sq, num) => {
      const value = dq || sq || num || '';
      if (isNotSecret(value)) return m;
      const vq = dq ? '"' : sq ? "'" : '';
      return `${q}${key}${q}${sep}${vq}${MASK}${vq}`;
    },
  },
  {
    // password=x, DB_PASSWORD="x y", --token=x, passwd: x (YAML needs the space after the colon,
    // so that identifiers such as "secretsmanager:RotateSecret" are left alone)
    name: 'assignment',
    pattern: new RegExp(String.raw`\b(${SECRET_KEY})([ \t]*=[ \t]*|:[ \t]+)${VALUE}`, 'gi'),
    replace: (m, key, sep, dq, sq, bare) => {
      const value = dq || sq || bare || '';
      if (isNotSecret(value)) return m;
      const vq = dq ? '"' : sq ? "'" : '';
      return `${key}${sep}${vq}${MASK}${vq}`;
    },
  },
];

/** Values next to a secret-sounding key that are references or placeholders, not secrets. */
function isNotSecret(value: string): boolean {
  return (
    value.includes(MASK) ||
    /^-?\d{1,7}(?:\.\d+)?$/.test(value) || // counts and limits (max_tokens: 4096), not credentials
    /^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$/.test(value) ||
    /^(?:var|local|data|module)\.[A-Za-z0-9_.]+$/.test(value) ||
    /^(?:null|none|nil|true|false|\*+|<[^>]*>|\{\{[^}]*\}\})$/i.test(value)
  );
}

/** Replaces PEM private key bodies (an unterminated block is masked to the end of the text). */
function maskPem(text: string): MaskResult {
  const begin = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----/g;
  let out = '';
  let last = 0;
  let masked = 0;
  for (let m = begin.exec(text); m !== null; m = begin.exec(text)) {
    const bodyStart = m.index + m[0].length;
    const endMarker = `-----END ${m[1] ?? ''}PRIVATE KEY${m[2] ?? ''}-----`;
    const end = text.indexOf(endMarker, bodyStart);
    out += text.slice(last, bodyStart) + MASK;
    masked += 1;
    last = end === -1 ? text.length : end;
    begin.lastIndex = last;
  }
  return { text: out + text.slice(last), masked };
}

/**
 * Replaces secrets in common formats (AWS keys, GitHub, Slack and Stripe tokens, JWTs, PEM
 * private keys, credentials in URLs, Authorization headers, `password=`/`token:`/`api_key=`
 * style assignments) with {@link MASK}.
 */
export function maskSecrets(text: string): MaskResult {
  let { text: out, masked } = maskPem(text);
  for (const rule of RULES) {
    out = out.replace(rule.pattern, (match: string, ...rest: unknown[]) => {
      const groups = rest.slice(0, -2).map((g) => (typeof g === 'string' ? g : ''));
      const replaced = rule.replace(match, ...groups);
      if (replaced !== match) masked += 1;
      return replaced;
    });
  }
  return { text: out, masked };
}
