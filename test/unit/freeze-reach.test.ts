import { describe, expect, test } from '@jest/globals';
import { reachesKnownEnvironment } from '../../src/app/admin/freeze.js';
import type { EnvironmentClass } from '../../src/core/policy/schema.js';

const CLASSES: EnvironmentClass[] = [
  { id: 'production', match: ['production', 'prod', 'prod-*'], risk: 'high' },
  { id: 'staging', match: ['staging', 'stage'], risk: 'low' },
];

describe('reachesKnownEnvironment', () => {
  test.each([
    ['a class id', 'production'],
    ['a name in a class', 'stage'],
    ['a name a class glob covers', 'prod-eu-west'],
    ['a glob entry itself', 'prod-*'],
    ['a pattern over class names', 'stag*'],
  ])('%s is reached', (_what, environment) => {
    expect(reachesKnownEnvironment(environment, CLASSES)).toBe(true);
  });

  test.each([['a typo', 'stagign'], ['an unknown name', 'qa'], ['a pattern over nothing', 'qa-*']])('%s is not', (_what, environment) => {
    expect(reachesKnownEnvironment(environment, CLASSES)).toBe(false);
  });

  test('without classes every name passes (nothing to check against)', () => {
    expect(reachesKnownEnvironment('anything', [])).toBe(true);
  });
});
