import { type Document, isMap, isScalar, isSeq, LineCounter, parseAllDocuments } from 'yaml';

/**
 * A YAML file parsed with positions kept, so that a problem found later (by zod, or by a
 * cross-file check) can be reported as `file:line` on the key or item that caused it.
 */
export interface YamlSource {
  file: string;
  /** The content as plain data; partial when the file has syntax errors. */
  data: unknown;
  /** Syntax errors, already located. */
  errors: Array<{ line: number; message: string }>;
  /** The 1-based line of the deepest node along `path` that exists. */
  lineOf(path: ReadonlyArray<string | number>): number;
}

/** Alias uses a file may expand (YAML's `maxAliasCount`). */
const MAX_ALIASES = 100;

/** Parses one policy file. Never throws: syntax errors are returned with their lines. */
export function parseYamlSource(file: string, text: string): YamlSource {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;
  const errors: YamlSource['errors'] = [];
  const list = Array.isArray(docs) ? docs : [];
  for (const doc of list) {
    for (const e of doc.errors) errors.push({ line: lineAt(e.pos[0]), message: firstLine(e.message) });
  }
  for (const extra of list.slice(1)) {
    errors.push({ line: lineAt(extra.range[0]), message: 'a policy file holds one YAML document; split this one into its own file' });
  }
  const doc = list[0];
  let data: unknown = null;
  if (doc !== undefined) {
    try {
      // The alias limit stops a "billion laughs" file; past it the file is an error, never empty.
      data = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (err) {
      errors.push({ line: 1, message: `${firstLine((err as Error).message)} (at most ${MAX_ALIASES} alias uses per file; write the rules out or split the file)` });
    }
  }
  return {
    file,
    data,
    errors,
    lineOf: (path) => (doc === undefined ? 1 : lineAt(offsetOf(doc, path))),
  };
}

/** Offset of the node at `path`, or of its deepest existing ancestor; keys point at the key. */
function offsetOf(doc: Document, path: ReadonlyArray<string | number>): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === segment);
      if (pair === undefined) break;
      offset = rangeStart(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) break;
      offset = rangeStart(item) ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range?.[0];
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}
