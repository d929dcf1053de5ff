import { constants, PerformanceObserver } from 'node:perf_hooks';
import type { Countersign } from '../src/countersign.js';
import { handleAhead } from './intercept.js';

/** Garbage collections of the app process since the previous read: how many, and how long they paused it. */
export interface GcCounts {
  /** Young-generation collections (scavenges). */
  young: number;
  youngPauseMs: number;
  youngLongestMs: number;
  /** Everything else: full mark-compacts, incremental marking steps, weak-callback processing. */
  other: number;
  otherPauseMs: number;
  otherLongestMs: number;
}

const empty = (): GcCounts => ({ young: 0, youngPauseMs: 0, youngLongestMs: 0, other: 0, otherPauseMs: 0, otherLongestMs: 0 });

/**
 * Counts the app's garbage collections and answers `GET /bench/gc` with those since the last
 * read, so a benchmark can say how often, and how long, collection paused the app during a
 * phase. Mounted by bench/app-server.ts; never part of the product.
 */
export function mountGcCounts(app: Countersign): void {
  let counts = empty();
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        counts.young += 1;
        counts.youngPauseMs += entry.duration;
        counts.youngLongestMs = Math.max(counts.youngLongestMs, entry.duration);
      } else {
        counts.other += 1;
        counts.otherPauseMs += entry.duration;
        counts.otherLongestMs = Math.max(counts.otherLongestMs, entry.duration);
      }
    }
  }).observe({ entryTypes: ['gc'] });
  handleAhead(app, (req) => req.url === '/bench/gc', (_req, res) => {
    const body = JSON.stringify(counts);
    counts = empty();
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
}

/** Reads (and resets) the app's counts. */
export async function readGcCounts(port: number): Promise<GcCounts> {
  const answer = await fetch(`http://127.0.0.1:${port}/bench/gc`);
  if (answer.status !== 200) throw new Error(`/bench/gc answered ${answer.status}`);
  return (await answer.json()) as GcCounts;
}

/** `young collections 44 (3.41 ms each, longest 4.9 ms; 5.0 % of the phase), other 3 (…)`. */
export function gcLine(counts: GcCounts, seconds: number): string {
  const share = (ms: number) => ((ms / (seconds * 1000)) * 100).toFixed(1);
  const each = (ms: number, n: number) => (n === 0 ? '0' : (ms / n).toFixed(2));
  return (
    `young collections ${counts.young} (${each(counts.youngPauseMs, counts.young)} ms each, longest ${counts.youngLongestMs.toFixed(1)} ms; ${share(counts.youngPauseMs)} % of the phase), ` +
    `other ${counts.other} (longest ${counts.otherLongestMs.toFixed(1)} ms; ${share(counts.otherPauseMs)} %)`
  );
}
