import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { CountersignClient } from '../../src/client/index.js';
import { redeemedGate, startExecutionApp, type ExecutionApp } from './execution-fixtures.js';

// Consuming a grant is not repeatable: the client must not ask twice when the first answer was
// lost on the way back (the second ask would find the grant used, and the run would be lost to
// a misleading `already_used`).

let t: ExecutionApp;
beforeAll(async () => {
  t = await startExecutionApp();
});
afterAll(async () => {
  await t.close();
});

const executor = (fetchImpl: typeof fetch) => new CountersignClient({ url: t.app.url, agentId: 'iam-broker', secret: t.secrets['iam-broker']!, fetch: fetchImpl });

test('an introspection whose answer was lost is not sent again: the error says the grant may be used up', async () => {
  const { grant } = await redeemedGate(t);
  let calls = 0;
  const lossy: typeof fetch = async (url, init) => {
    const res = await fetch(url, init);
    calls += 1;
    if (calls === 1) throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
    return res;
  };
  await expect(executor(lossy).introspect(grant)).rejects.toMatchObject({ code: 'ERR_NETWORK', message: expect.stringContaining('not sent again') });
  expect(calls).toBe(1);
});

test('an introspection that never left (connection refused) is tried again and consumes the grant once', async () => {
  const { grant } = await redeemedGate(t);
  let calls = 0;
  const refusedOnce: typeof fetch = async (url, init) => {
    calls += 1;
    if (calls === 1) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    return fetch(url, init);
  };
  expect(await executor(refusedOnce).introspect(grant)).toMatchObject({ active: true });
  expect(calls).toBe(2);
});
