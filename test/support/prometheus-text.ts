/**
 * A strict parser for the Prometheus text exposition format (version 0.0.4), for tests that
 * must read /metrics as Prometheus would rather than with a regular expression. It follows the
 * format's line grammar and refuses anything outside it: a sample before its family's TYPE,
 * a sample of an undeclared family, a malformed label set or value, a duplicate series, and
 * histograms whose buckets are not cumulative or lack `+Inf` equal to `_count`.
 * Its output has the shape of `parse-prometheus-text-format`: families with their samples.
 */

export interface Sample {
  /** The sample's own name (for histograms: `_bucket`, `_sum`, `_count`). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function fail(line: number, message: string): never {
  throw new Error(`line ${line}: ${message}`);
}

function parseValue(text: string, line: number): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) fail(line, `not a number: ${text}`);
  return Number(text);
}

/** Parses `{a="x",b="y"}` starting at `i`; returns the labels and the index after `}`. */
function parseLabels(s: string, i: number, line: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  i += 1; // past '{'
  for (;;) {
    if (s[i] === '}') return { labels, end: i + 1 };
    const eq = s.indexOf('=', i);
    if (eq < 0) fail(line, 'label without =');
    const name = s.slice(i, eq).trim();
    if (!LABEL.test(name)) fail(line, `bad label name: ${name}`);
    if (name in labels) fail(line, `duplicate label: ${name}`);
    if (s[eq + 1] !== '"') fail(line, `label ${name}: value must be quoted`);
    let j = eq + 2;
    let value = '';
    for (;;) {
      const c = s[j];
      if (c === undefined) fail(line, `label ${name}: unterminated value`);
      if (c === '"') break;
      if (c === '\\') {
        const next = s[j + 1];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else fail(line, `label ${name}: bad escape \\${next ?? ''}`);
        j += 2;
        continue;
      }
      if (c === '\n') fail(line, 'newline in a label value');
      value += c;
      j += 1;
    }
    labels[name] = value;
    i = j + 1;
    if (s[i] === ',') i += 1;
    else if (s[i] !== '}') fail(line, `expected , or } after label ${name}`);
  }
}

/** The family a sample name belongs to, given the declared types. */
function familyOf(name: string, families: Map<string, MetricFamily>): MetricFamily | undefined {
  const exact = families.get(name);
  if (exact && exact.type !== 'histogram' && exact.type !== 'summary') return exact;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  if (exact && exact.type === 'summary') return exact;
  return undefined;
}

/** Parses an exposition; throws naming the first line that breaks the format. */
export function parsePrometheusText(text: string): MetricFamily[] {
  if (!text.endsWith('\n')) fail(text.split('\n').length, 'the exposition must end with a line feed');
  const families = new Map<string, MetricFamily>();
  const seen = new Set<string>();
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    if (raw.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(raw);
      if (!m) return; // a plain comment
      const [, kind, name, rest = ''] = m;
      if (!NAME.test(name!)) fail(line, `bad metric name: ${name}`);
      const family = families.get(name!) ?? { name: name!, help: '', type: 'untyped' as const, samples: [] };
      if (kind === 'HELP') family.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      else {
        if (!TYPES.has(rest)) fail(line, `bad type: ${rest}`);
        if (family.samples.length > 0) fail(line, `TYPE for ${name} after its samples`);
        family.type = rest as MetricFamily['type'];
      }
      families.set(name!, family);
      return;
    }
    const nameEnd = raw.search(/[{ ]/);
    if (nameEnd <= 0) fail(line, 'a sample needs a name and a value');
    const name = raw.slice(0, nameEnd);
    if (!NAME.test(name)) fail(line, `bad metric name: ${name}`);
    let i = nameEnd;
    let labels: Record<string, string> = {};
    if (raw[i] === '{') ({ labels, end: i } = parseLabels(raw, i, line));
    if (raw[i] !== ' ') fail(line, 'expected a space before the value');
    const parts = raw.slice(i + 1).split(' ');
    if (parts.length < 1 || parts.length > 2 || parts[0] === '') fail(line, 'expected a value and an optional timestamp');
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) fail(line, `bad timestamp: ${parts[1]}`);
    const value = parseValue(parts[0]!, line);
    const family = familyOf(name, families);
    if (!family) fail(line, `sample ${name} has no TYPE declared before it`);
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(series)) fail(line, `duplicate series ${series}`);
    seen.add(series);
    family.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return [...families.values()];
}

/** Buckets cumulative, ending in `+Inf` equal to `_count`, per label set. */
function checkHistogram(f: MetricFamily): void {
  const groups = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(key) ?? { buckets: [] };
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: bucket without le`);
      g.buckets.push([parseValue(le, 0), s.value]);
    } else if (s.name === `${f.name}_count`) g.count = s.value;
    groups.set(key, g);
  }
  for (const [key, g] of groups) {
    const sorted = [...g.buckets].sort((a, b) => a[0] - b[0]);
    sorted.forEach(([, v], i) => {
      if (i > 0 && v < sorted[i - 1]![1]) throw new Error(`${f.name}${key}: buckets are not cumulative`);
    });
    const inf = sorted.at(-1);
    if (!inf || inf[0] !== Infinity) throw new Error(`${f.name}${key}: no +Inf bucket`);
    if (g.count !== inf[1]) throw new Error(`${f.name}${key}: +Inf bucket ${inf[1]} differs from _count ${g.count}`);
  }
}

/** The value of one series, or undefined. */
export function valueOf(families: MetricFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}
