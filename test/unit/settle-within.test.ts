import { describe, expect, test } from '@jest/globals';
import { quitWithin, settleWithin } from '../../src/adapters/redis/settle-within.js';

describe('settleWithin', () => {
  test('true when the work resolves or rejects in time, false when the time runs out first', async () => {
    expect(await settleWithin(Promise.resolve('done'), 1_000)).toBe(true);
    expect(await settleWithin(Promise.reject(new Error('refused')), 1_000)).toBe(true);
    expect(await settleWithin(new Promise(() => undefined), 20)).toBe(false);
  });

  test('a rejection after the time ran out is dropped, not left unhandled', async () => {
    let reject!: (err: Error) => void;
    const late = new Promise((_resolve, r) => (reject = r));
    expect(await settleWithin(late, 10)).toBe(false);
    reject(new Error('too late'));
    await new Promise((resolve) => setImmediate(resolve)); // an unhandled rejection would fail the run here
  });
});

describe('quitWithin', () => {
  test('drops a connection whose quit gets no answer, and leaves one that quit alone', async () => {
    const calls: string[] = [];
    const hung = { quit: () => new Promise(() => undefined), disconnect: () => void calls.push('hung dropped') };
    const polite = { quit: async () => calls.push('polite quit'), disconnect: () => void calls.push('polite dropped') };
    await quitWithin(hung, 20);
    await quitWithin(polite, 1_000);
    expect(calls).toEqual(['hung dropped', 'polite quit']);
  });
});
