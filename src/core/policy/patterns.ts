import type { Resource } from '../gate-request.js';
import type { ResourcePattern } from './schema.js';

/**
 * Glob matching for policy patterns, compiled once at load so that evaluation does no parsing.
 * `*` matches any run of characters (dots and slashes included), `?` exactly one; everything
 * else is literal. Patterns are data plus one `test` method (not closures), which keeps the
 * hot call sites monomorphic; `*`-only patterns never touch the regular expression engine.
 */

/** A compiled test of one string. */
export interface Matcher {
  test(value: string): boolean;
}

/** True when the pattern holds a wildcard. */
export function isGlob(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

const Kind = { Any: 0, Exact: 1, Prefix: 2, Suffix: 3, Segments: 4, Regex: 5 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

/** One compiled glob. */
export class Glob implements Matcher {
  private readonly kind: Kind;
  private readonly first: string;
  private readonly last: string;
  private readonly middle: readonly string[];
  private readonly minLength: number;
  private readonly regex: RegExp | undefined;

  constructor(readonly pattern: string) {
    const segments = pattern.split('*');
    this.first = segments[0]!;
    this.last = segments.length > 1 ? segments[segments.length - 1]! : '';
    this.middle = segments.slice(1, -1).filter((s) => s !== '');
    this.minLength = this.first.length + this.last.length + this.middle.reduce((n, s) => n + s.length, 0);
    this.regex = undefined;
    if (pattern.includes('?')) {
      const source = [...pattern].map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\/-]/g, '\\$&'))).join('');
      this.regex = new RegExp(`^${source}$`, 's');
      this.kind = Kind.Regex;
    } else if (segments.length === 1) this.kind = Kind.Exact;
    else if (segments.every((s) => s === '')) this.kind = Kind.Any;
    else if (segments.length === 2 && this.last === '') this.kind = Kind.Prefix;
    else if (segments.length === 2 && this.first === '') this.kind = Kind.Suffix;
    else this.kind = Kind.Segments;
  }

  test(value: string): boolean {
    switch (this.kind) {
      case Kind.Any:
        return true;
      case Kind.Exact:
        return value === this.first;
      case Kind.Prefix:
        return value.startsWith(this.first);
      case Kind.Suffix:
        return value.endsWith(this.last);
      case Kind.Regex:
        return this.regex!.test(value);
      default:
        return this.segments(value);
    }
  }

  /** Leftmost match of each middle segment, between the fixed prefix and suffix: no backtracking. */
  private segments(value: string): boolean {
    if (value.length < this.minLength || !value.startsWith(this.first) || !value.endsWith(this.last)) return false;
    let at = this.first.length;
    const end = value.length - this.last.length;
    for (const segment of this.middle) {
      const found = value.indexOf(segment, at);
      if (found < 0 || found + segment.length > end) return false;
      at = found + segment.length;
    }
    return true;
  }
}

/** A list of globs: passes when any of them matches. Exact entries are one Set lookup. */
export class GlobSet implements Matcher {
  private readonly any: boolean;
  private readonly exact: ReadonlySet<string>;
  private readonly globs: readonly Glob[];

  constructor(patterns: readonly string[]) {
    this.any = patterns.includes('*');
    this.exact = new Set(patterns.filter((p) => !isGlob(p)));
    this.globs = patterns.filter(isGlob).map((p) => new Glob(p));
  }

  test(value: string): boolean {
    if (this.any || this.exact.has(value)) return true;
    for (const glob of this.globs) if (glob.test(value)) return true;
    return false;
  }
}

/** Compiles one glob. */
export function compileGlob(pattern: string): Matcher {
  return new Glob(pattern);
}

/** Compiles a list of globs into one test that passes when any of them matches. */
export function compileGlobs(patterns: readonly string[]): Matcher {
  return new GlobSet(patterns);
}

const ANY = new Glob('*');

/** Resource patterns (type and id globs); a resource matches when it matches any of them. */
export class ResourceMatcher {
  private readonly patterns: ReadonlyArray<{ type: Glob; id: Glob }>;

  constructor(patterns: readonly ResourcePattern[]) {
    this.patterns = patterns.map((p) => ({
      type: p.type === undefined ? ANY : new Glob(p.type),
      id: p.id === undefined ? ANY : new Glob(p.id),
    }));
  }

  test(resource: Resource): boolean {
    for (const p of this.patterns) if (p.type.test(resource.type) && p.id.test(resource.id)) return true;
    return false;
  }
}

/**
 * Finds the entries (assets, protected targets) whose patterns match a resource. Patterns are
 * grouped by their type glob, so one resource tests each distinct type pattern once and only
 * the ids of the groups whose type matched.
 */
export class ResourceIndex<T> {
  private readonly byExactType = new Map<string, Array<{ id: Glob; item: T }>>();
  private readonly byTypeGlob: Array<{ type: Glob; entries: Array<{ id: Glob; item: T }> }> = [];

  constructor(items: readonly T[], patternsOf: (item: T) => readonly ResourcePattern[]) {
    const globGroups = new Map<string, Array<{ id: Glob; item: T }>>();
    for (const item of items) {
      for (const p of patternsOf(item)) {
        const entry = { id: p.id === undefined ? ANY : new Glob(p.id), item };
        const type = p.type ?? '*';
        const groups = isGlob(type) ? globGroups : this.byExactType;
        const group = groups.get(type);
        if (group === undefined) groups.set(type, [entry]);
        else group.push(entry);
      }
    }
    for (const [type, entries] of globGroups) this.byTypeGlob.push({ type: new Glob(type), entries });
  }

  /** Matching entries, each once, in no guaranteed order. */
  lookup(resource: Resource): T[] {
    const out: T[] = [];
    const exact = this.byExactType.get(resource.type);
    if (exact !== undefined) collect(exact, resource.id, out);
    for (const group of this.byTypeGlob) if (group.type.test(resource.type)) collect(group.entries, resource.id, out);
    return out;
  }
}

function collect<T>(entries: ReadonlyArray<{ id: Glob; item: T }>, id: string, out: T[]): void {
  for (const entry of entries) if (entry.id.test(id) && !out.includes(entry.item)) out.push(entry.item);
}
