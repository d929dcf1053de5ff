import { describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { bufferedRandom, GATE_ID, GRANT_ID, idSource } from '../../src/core/ids.js';

/** A draw function that numbers its bytes 0, 1, 2, … across calls, and records each call. */
function countingDraw() {
  let next = 0;
  const calls: number[] = [];
  const draw = (n: number) => {
    calls.push(n);
    return Uint8Array.from({ length: n }, () => next++ % 256);
  };
  return { draw, calls };
}

describe('bufferedRandom', () => {
  test('hands out every drawn byte once, in order, and draws a new chunk only when one is used up', () => {
    // Setup
    const { draw, calls } = countingDraw();
    const random = bufferedRandom(draw, 32);

    // Execution: three 10-byte ids fit in a 32-byte chunk; the fourth needs a new chunk.
    const slices = [random(10), random(10), random(10), random(10)];

    // Validation: the first three are bytes 0–29; the last two bytes of the chunk are skipped, never reused.
    expect(slices.slice(0, 3).flatMap((s) => [...s])).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect([...slices[3]!]).toEqual(Array.from({ length: 10 }, (_, i) => 32 + i));
    expect(calls).toEqual([32, 32]);
  });

  test('a request larger than a chunk is drawn on its own', () => {
    const { draw, calls } = countingDraw();
    const random = bufferedRandom(draw, 16);
    expect(random(40)).toHaveLength(40);
    expect(calls).toEqual([40]);
  });

  test('ids from a buffered source have the documented shape and do not repeat', () => {
    const ids = idSource(bufferedRandom((n) => randomBytes(n)));
    const now = Date.UTC(2026, 10, 24);
    const gates = Array.from({ length: 2_000 }, () => ids.gateId(now));
    const grants = Array.from({ length: 2_000 }, () => ids.grantId(now));
    for (const id of gates) expect(id).toMatch(GATE_ID);
    for (const id of grants) expect(id).toMatch(GRANT_ID);
    expect(new Set([...gates, ...grants].map((id) => id.replace(/^gr?_/, ''))).size).toBe(4_000);
  });
});
