import { isCountersignError, type CountersignError } from '../../src/core/errors.js';

/** The CountersignError a promise rejects with; throws when it resolves or rejects with anything else. */
export async function failure(promise: Promise<unknown>): Promise<CountersignError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isCountersignError(err)) throw new Error(`expected a CountersignError, got ${String(err)}`);
  return err;
}
