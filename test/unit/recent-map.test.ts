import { describe, expect, test } from '@jest/globals';
import { RecentMap } from '../../src/core/recent-map.js';

describe('RecentMap', () => {
  test('answers like a Map for what it holds', () => {
    const map = new RecentMap<string, number>(10);
    map.set('a', 1).set('b', 2);
    expect([map.get('a'), map.get('b'), map.get('c')]).toEqual([1, 2, undefined]);
    expect([map.has('a'), map.has('c')]).toEqual([true, false]);
    map.set('a', 3);
    expect(map.get('a')).toBe(3);
    expect(map.delete('a')).toBe(true);
    expect(map.delete('a')).toBe(false);
    expect(map.has('a')).toBe(false);
    expect(map.size).toBe(1);
  });

  test('holds at most `limit` entries, and always the latest half of them', () => {
    const limit = 200;
    const map = new RecentMap<number, number>(limit);
    for (let i = 0; i < 10 * limit; i += 1) {
      map.set(i, i * 2);
      expect(map.size).toBeLessThan(limit);
      // The latest limit / 2 - 1 entries are always there, with their values.
      if (i % 37 === 0) for (let j = Math.max(0, i - limit / 2 + 2); j <= i; j += 1) expect(map.get(j)).toBe(j * 2);
    }
    expect(map.size).toBeGreaterThanOrEqual(limit / 2 - 1);
    expect(map.has(0)).toBe(false);
  });

  test('an entry set again is young again, and its old value is gone for good', () => {
    const map = new RecentMap<string, number>(4);
    map.set('a', 1).set('b', 2); // the young generation fills: a and b become the older one
    map.set('a', 3); // a is young again
    map.set('c', 4); // fills again: the older generation (b) is dropped
    expect([map.get('a'), map.has('b'), map.get('c')]).toEqual([3, false, 4]);
    map.delete('a');
    expect(map.get('a')).toBeUndefined();
  });

  test('refuses a limit that could hold nothing', () => {
    expect(() => new RecentMap(1)).toThrow(RangeError);
    expect(() => new RecentMap(Number.NaN)).toThrow(RangeError);
  });
});
