import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { ErrorCode, isCountersignError, type CountersignError } from '../../../src/core/errors.js';
import {
  decodeWebhookSecret,
  generateWebhookSecret,
  signWebhook,
  verifyWebhook,
  webhookHeaders,
} from '../../../src/adapters/http/auth/standard-webhooks.js';

// The Standard Webhooks reference test vector secret (24 bytes).
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const OTHER_SECRET = generateWebhookSecret();
const NOW = 1_790_000_000; // epoch seconds, frozen
const BODY = '{"action":"k8s.deploy","environment":"staging"}';

function caught(fn: () => unknown): CountersignError {
  try {
    fn();
  } catch (err) {
    if (isCountersignError(err)) return err;
    throw err;
  }
  throw new Error('expected a CountersignError');
}

function signed(overrides: { id?: string; timestamp?: number; body?: string; secret?: string } = {}) {
  const id = overrides.id ?? 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W';
  const timestamp = overrides.timestamp ?? NOW;
  return { id, timestamp: String(timestamp), signature: signWebhook(overrides.secret ?? SECRET, id, timestamp, overrides.body ?? BODY) };
}

describe('signWebhook matches the standardwebhooks reference library', () => {
  test('identical signatures for the same secret, id, timestamp and body', () => {
    const reference = new Webhook(SECRET);
    expect(signWebhook(SECRET, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(
      reference.sign('msg_p5jXN8AQM9LWM0D4loKWxJek', new Date(1614265330 * 1000), '{"test": 2432232314}'),
    );
  });

  test('identical for generated secrets, ids, timestamps and unicode bodies', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 24, maxLength: 64 }),
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.integer({ min: 0, max: 4_000_000_000 }),
        fc.string({ unit: 'grapheme', maxLength: 300 }),
        fc.boolean(),
        (keyBytes, id, timestamp, body, prefixed) => {
          const b64 = Buffer.from(keyBytes).toString('base64');
          const secret = prefixed ? `whsec_${b64}` : b64;
          const reference = new Webhook(secret).sign(id, new Date(timestamp * 1000), body);
          expect(signWebhook(secret, id, timestamp, body)).toBe(reference);
          expect(signWebhook(secret, id, timestamp, Buffer.from(body, 'utf8'))).toBe(reference);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('our verifier accepts what the library signs, and the library accepts what we sign', () => {
    const reference = new Webhook(SECRET);
    const id = 'msg_from_library';
    const signature = reference.sign(id, new Date(NOW * 1000), BODY);
    expect(verifyWebhook(SECRET, { id, timestamp: String(NOW), signature }, BODY, NOW).id).toBe(id);

    // The library reads the real clock, so this direction signs at the real time.
    const headers = webhookHeaders(SECRET, BODY, { now: Date.now() });
    expect(reference.verify(BODY, headers)).toEqual(JSON.parse(BODY));
  });
});

describe('verifyWebhook', () => {
  test('accepts a correct signature and returns the parsed headers', () => {
    expect(verifyWebhook(SECRET, signed(), BODY, NOW)).toEqual({
      id: 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W',
      timestamp: NOW,
      v1Signatures: [expect.any(String)],
    });
  });

  test('refuses a body changed after signing', () => {
    const err = caught(() => verifyWebhook(SECRET, signed(), BODY.replace('staging', 'production'), NOW));
    expect(err.code).toBe(ErrorCode.BadSignature);
  });

  test('refuses a signature made with another secret, without echoing either secret', () => {
    const err = caught(() => verifyWebhook(SECRET, signed({ secret: OTHER_SECRET }), BODY, NOW));
    expect(err.code).toBe(ErrorCode.BadSignature);
    expect(err.message).not.toContain('MfKQ9r8G');
    expect(err.message).not.toContain(OTHER_SECRET.slice(6, 20));
  });

  test('refuses a signature for another id or timestamp (they are part of the signed text)', () => {
    const good = signed();
    expect(caught(() => verifyWebhook(SECRET, { ...good, id: 'msg_other' }, BODY, NOW)).code).toBe(ErrorCode.BadSignature);
    expect(caught(() => verifyWebhook(SECRET, { ...good, timestamp: String(NOW + 1) }, BODY, NOW)).code).toBe(ErrorCode.BadSignature);
  });

  test('refuses a timestamp more than 300 s in the past, accepts exactly 300 s', () => {
    expect(() => verifyWebhook(SECRET, signed({ timestamp: NOW - 300 }), BODY, NOW)).not.toThrow();
    const err = caught(() => verifyWebhook(SECRET, signed({ timestamp: NOW - 301 }), BODY, NOW));
    expect(err.code).toBe(ErrorCode.StaleTimestamp);
    expect(err.details.reason).toBe('too_old');
  });

  test('refuses a timestamp more than 300 s in the future, accepts exactly 300 s', () => {
    expect(() => verifyWebhook(SECRET, signed({ timestamp: NOW + 300 }), BODY, NOW)).not.toThrow();
    const err = caught(() => verifyWebhook(SECRET, signed({ timestamp: NOW + 301 }), BODY, NOW));
    expect(err.code).toBe(ErrorCode.StaleTimestamp);
    expect(err.details.reason).toBe('in_future');
  });

  test('honours a custom tolerance', () => {
    expect(caught(() => verifyWebhook(SECRET, signed({ timestamp: NOW - 61 }), BODY, NOW, 60)).code).toBe(ErrorCode.StaleTimestamp);
  });

  test('missing headers are unauthenticated and named', () => {
    const good = signed();
    const err = caught(() => verifyWebhook(SECRET, { id: good.id }, BODY, NOW));
    expect(err.code).toBe(ErrorCode.Unauthenticated);
    expect(err.message).toBe('missing webhook-timestamp, webhook-signature headers');
    expect(caught(() => verifyWebhook(SECRET, { ...good, signature: '' }, BODY, NOW)).message).toBe('missing webhook-signature header');
  });

  test.each([
    ['timestamp with letters', { timestamp: '1790000000abc' }],
    ['timestamp with a sign', { timestamp: '+1790000000' }],
    ['timestamp with leading zeros', { timestamp: '01790000000' }],
    ['timestamp in milliseconds', { timestamp: '1790000000000000' }],
    ['id with spaces', { id: 'msg one' }],
    ['id too long', { id: 'm'.repeat(257) }],
    ['signature without a version', { signature: 'c2lnbmF0dXJl' }],
    ['signature with an empty value', { signature: 'v1,' }],
    ['too many signatures', { signature: Array.from({ length: 17 }, () => 'v1,AAAA').join(' ') }],
  ])('malformed header refused: %s', (_name, override) => {
    const err = caught(() => verifyWebhook(SECRET, { ...signed(), ...override }, BODY, NOW));
    expect(err.code).toBe(ErrorCode.Unauthenticated);
    expect(err.details.reason).toBe('malformed_headers');
  });

  test('a signature header with only other versions has no v1 signature', () => {
    const err = caught(() => verifyWebhook(SECRET, { ...signed(), signature: 'v1a,AAAA v2,BBBB' }, BODY, NOW));
    expect(err.code).toBe(ErrorCode.BadSignature);
    expect(err.message).toBe('webhook-signature holds no v1 signature');
  });

  test('several signatures (key rotation): one valid among them is enough', () => {
    // Setup: the sender signs with the old and the new secret; versions we do not know are ignored.
    const good = signed();
    const byOther = signed({ secret: OTHER_SECRET }).signature;
    const rotating = `v1a,c29tZXRoaW5nIGVsc2U= ${byOther}  ${good.signature} v1,not-base64`;
    // Execution / Validation
    expect(verifyWebhook(SECRET, { ...good, signature: rotating }, BODY, NOW).v1Signatures).toHaveLength(3);
    expect(verifyWebhook(OTHER_SECRET, { ...good, signature: rotating }, BODY, NOW).id).toBe(good.id);
    expect(caught(() => verifyWebhook(generateWebhookSecret(), { ...good, signature: rotating }, BODY, NOW)).code).toBe(
      ErrorCode.BadSignature,
    );
  });

  test('a signature that differs only in its last character is refused', () => {
    const good = signed();
    const last = good.signature.at(-2) === 'A' ? 'B' : 'A';
    const tampered = good.signature.slice(0, -2) + last + '=';
    expect(caught(() => verifyWebhook(SECRET, { ...good, signature: tampered }, BODY, NOW)).code).toBe(ErrorCode.BadSignature);
  });

  test('signs and verifies raw bytes that are not UTF-8', () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x7b]);
    const signature = signWebhook(SECRET, 'msg_bin', NOW, bytes);
    expect(verifyWebhook(SECRET, { id: 'msg_bin', timestamp: String(NOW), signature }, bytes, NOW).id).toBe('msg_bin');
    expect(caught(() => verifyWebhook(SECRET, { id: 'msg_bin', timestamp: String(NOW), signature }, Buffer.from([0xff, 0xfe, 0x00, 0x7c]), NOW)).code).toBe(
      ErrorCode.BadSignature,
    );
  });
});

describe('secrets and headers', () => {
  test('accepts whsec_ and bare base64 secrets as the same key', () => {
    expect(decodeWebhookSecret(SECRET)).toEqual(decodeWebhookSecret(SECRET.slice('whsec_'.length)));
    expect(signWebhook(SECRET, 'a', NOW, BODY)).toBe(signWebhook(SECRET.slice(6), 'a', NOW, BODY));
  });

  test.each([
    ['not base64', 'whsec_not*base64!'],
    ['too short', `whsec_${Buffer.alloc(16, 1).toString('base64')}`],
    ['empty', 'whsec_'],
    ['only whitespace', '   '],
  ])('refuses a secret that is %s, without repeating it', (_name, secret) => {
    const err = caught(() => decodeWebhookSecret(secret));
    expect(err.code).toBe(ErrorCode.ConfigInvalid);
    const value = secret.slice('whsec_'.length).trim();
    if (value !== '') expect(err.message).not.toContain(value);
  });

  test('webhookHeaders gives the three headers, verifiable at the given time', () => {
    const headers = webhookHeaders(SECRET, BODY, { now: NOW * 1000 + 999 });
    expect(headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(headers['webhook-timestamp']).toBe(String(NOW));
    const parsed = verifyWebhook(
      SECRET,
      { id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], signature: headers['webhook-signature'] },
      BODY,
      NOW,
    );
    expect(parsed.id).toBe(headers['webhook-id']);
    expect(webhookHeaders(SECRET, BODY, { id: 'msg_fixed', now: NOW * 1000 })['webhook-id']).toBe('msg_fixed');
    expect(webhookHeaders(SECRET, BODY)['webhook-id']).not.toBe(webhookHeaders(SECRET, BODY)['webhook-id']);
  });
});
