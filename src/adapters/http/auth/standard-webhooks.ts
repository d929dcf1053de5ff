import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { CountersignError, ErrorCode } from '../../../core/errors.js';

/**
 * Standard Webhooks (https://www.standardwebhooks.com/): HMAC-SHA256 over
 * `${webhook-id}.${webhook-timestamp}.${body}`, sent as `webhook-signature: v1,<base64>`.
 * Agents sign their requests to us this way, and we sign our callbacks to them the same way.
 */

/** How far a `webhook-timestamp` may lie in the past or the future (the spec's 5 minutes). */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** The spec recommends 24–64 byte secrets; shorter ones are refused rather than trusted. */
export const MIN_SECRET_BYTES = 24;

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Visible ASCII only: the id is part of the signed text and of log lines. */
const MESSAGE_ID = /^[\x21-\x7e]{1,256}$/;
/** No sign, no leading zeros: the header text is what gets signed, so it must have one spelling. */
const TIMESTAMP = /^(0|[1-9][0-9]{0,14})$/;
const MAX_SIGNATURE_HEADER = 4096;
const MAX_SIGNATURE_ENTRIES = 16;
/** base64 of a 32-byte HMAC-SHA256 digest. */
const V1_SIGNATURE = /^[A-Za-z0-9+/]{43}=$/;

/** The three Standard Webhooks headers, as received (any may be missing). */
export interface WebhookHeaderValues {
  id?: string | undefined;
  timestamp?: string | undefined;
  signature?: string | undefined;
}

/** Headers that passed the syntax checks; `timestamp` is in epoch seconds. */
export interface ParsedWebhookHeaders {
  id: string;
  timestamp: number;
  /** The base64 parts of the `v1,…` entries; other versions are ignored, as the spec asks. */
  v1Signatures: string[];
}

/**
 * Decodes a `whsec_<base64>` (or bare base64) secret into key bytes. The error never repeats
 * the value: this runs on secrets from the environment.
 */
export function decodeWebhookSecret(secret: string): Buffer {
  const text = secret.trim();
  const b64 = text.startsWith(SECRET_PREFIX) ? text.slice(SECRET_PREFIX.length) : text;
  const wellPadded = b64.includes('=') ? b64.length % 4 === 0 : b64.length % 4 !== 1;
  if (!BASE64.test(b64) || !wellPadded) {
    throw new CountersignError(ErrorCode.ConfigInvalid, 'webhook secret is not `whsec_<base64>` or base64');
  }
  const key = Buffer.from(b64, 'base64');
  if (key.length < MIN_SECRET_BYTES) {
    throw new CountersignError(ErrorCode.ConfigInvalid, `webhook secret is shorter than ${MIN_SECRET_BYTES} bytes`);
  }
  return key;
}

/** A fresh random secret in the `whsec_` form (32 bytes), for registrations and tests. */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

function signWithKey(key: Buffer, msgId: string, timestampSeconds: number, body: string | Buffer): string {
  // The body is signed as raw bytes: re-encoding it could change what was sent.
  return createHmac('sha256', key)
    .update(`${msgId}.${timestampSeconds}.`, 'utf8')
    .update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body)
    .digest('base64');
}

/** The `webhook-signature` value (`v1,<base64>`) for one message. */
export function signWebhook(secret: string, msgId: string, timestampSeconds: number, body: string | Buffer): string {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new CountersignError(ErrorCode.InvalidRequest, 'webhook timestamp must be whole epoch seconds');
  }
  return `v1,${signWithKey(decodeWebhookSecret(secret), msgId, timestampSeconds, body)}`;
}

/**
 * How the ids of messages Countersign signs for an agent begin (callbacks `deliver-…`,
 * revalidation requests `revalidate-…`). They are signed with the agent's own secret, which
 * also signs the agent's requests; a request carrying such an id is one of ours sent back, so
 * it is refused (the id is signed: it cannot be changed without the secret).
 */
export const OUTBOUND_ID_PREFIXES = ['deliver-', 'revalidate-'] as const;

export function isOutboundMessageId(id: string): boolean {
  return OUTBOUND_ID_PREFIXES.some((prefix) => id.startsWith(prefix));
}

/** The three headers to send with a signed body. `now` is epoch milliseconds. */
export function webhookHeaders(
  secret: string,
  body: string | Buffer,
  options: { id?: string; now?: number } = {},
): { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string } {
  const id = options.id ?? `msg_${randomUUID().replaceAll('-', '')}`;
  const timestamp = Math.floor((options.now ?? Date.now()) / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(secret, id, timestamp, body),
  };
}

function unauthenticated(message: string, reason: string): CountersignError {
  return new CountersignError(ErrorCode.Unauthenticated, message, { details: { reason } });
}

/** Syntax checks only (missing or malformed headers → `ERR_UNAUTHENTICATED`); no secret involved. */
export function parseWebhookHeaders(headers: WebhookHeaderValues): ParsedWebhookHeaders {
  const { id, timestamp, signature } = headers;
  const missing = [
    id === undefined || id === '' ? 'webhook-id' : undefined,
    timestamp === undefined || timestamp === '' ? 'webhook-timestamp' : undefined,
    signature === undefined || signature === '' ? 'webhook-signature' : undefined,
  ].filter((name): name is string => name !== undefined);
  if (missing.length > 0 || id === undefined || timestamp === undefined || signature === undefined) {
    throw unauthenticated(`missing ${missing.join(', ')} header${missing.length > 1 ? 's' : ''}`, 'missing_headers');
  }
  if (!MESSAGE_ID.test(id)) {
    throw unauthenticated('malformed webhook-id header: 1–256 visible ASCII characters expected', 'malformed_headers');
  }
  if (!TIMESTAMP.test(timestamp)) {
    throw unauthenticated('malformed webhook-timestamp header: epoch seconds expected', 'malformed_headers');
  }
  if (signature.length > MAX_SIGNATURE_HEADER) {
    throw unauthenticated('malformed webhook-signature header: too long', 'malformed_headers');
  }
  const entries = signature.split(' ').filter((entry) => entry !== '');
  if (entries.length > MAX_SIGNATURE_ENTRIES) {
    throw unauthenticated(`malformed webhook-signature header: more than ${MAX_SIGNATURE_ENTRIES} signatures`, 'malformed_headers');
  }
  const parsed = entries.map((entry) => {
    const comma = entry.indexOf(',');
    return comma > 0 ? { version: entry.slice(0, comma), value: entry.slice(comma + 1) } : undefined;
  });
  if (parsed.length === 0 || parsed.some((entry) => entry === undefined || entry.value === '')) {
    throw unauthenticated('malformed webhook-signature header: space-separated `v1,<base64>` entries expected', 'malformed_headers');
  }
  const v1Signatures = parsed.filter((entry) => entry?.version === 'v1').map((entry) => entry!.value);
  return { id, timestamp: Number(timestamp), v1Signatures };
}

/** Refuses timestamps more than `toleranceSeconds` in the past or in the future. */
export function checkWebhookTimestamp(timestampSeconds: number, nowSeconds: number, toleranceSeconds = WEBHOOK_TOLERANCE_SECONDS): void {
  const now = Math.floor(nowSeconds);
  if (now - timestampSeconds > toleranceSeconds) {
    throw new CountersignError(
      ErrorCode.StaleTimestamp,
      `webhook-timestamp is ${now - timestampSeconds} s old; at most ${toleranceSeconds} s is accepted`,
      { details: { reason: 'too_old', skewSeconds: now - timestampSeconds } },
    );
  }
  if (timestampSeconds - now > toleranceSeconds) {
    throw new CountersignError(
      ErrorCode.StaleTimestamp,
      `webhook-timestamp is ${timestampSeconds - now} s in the future; at most ${toleranceSeconds} s is accepted (check the clock)`,
      { details: { reason: 'in_future', skewSeconds: now - timestampSeconds } },
    );
  }
}

/**
 * True when one of the `v1` signatures was made with `key`. Every entry is compared, in
 * constant time, on equal-length buffers, so the answer's timing does not depend on which
 * byte differs or which entry matched.
 */
export function webhookSignatureMatches(key: Buffer, parsed: ParsedWebhookHeaders, body: string | Buffer): boolean {
  const expected = Buffer.from(signWithKey(key, parsed.id, parsed.timestamp, body), 'latin1');
  let matched = false;
  for (const candidate of parsed.v1Signatures) {
    if (!V1_SIGNATURE.test(candidate)) continue;
    if (timingSafeEqual(Buffer.from(candidate, 'latin1'), expected)) matched = true;
  }
  return matched;
}

/**
 * Verifies one Standard Webhooks message: headers present and well formed, timestamp within
 * tolerance (both directions), and at least one `v1` signature by `secret` (several may be
 * sent while keys rotate). Replay is not checked here: see ReplayGuard.
 */
export function verifyWebhook(
  secret: string,
  headers: WebhookHeaderValues,
  body: string | Buffer,
  nowSeconds: number,
  toleranceSeconds = WEBHOOK_TOLERANCE_SECONDS,
): ParsedWebhookHeaders {
  const parsed = parseWebhookHeaders(headers);
  checkWebhookTimestamp(parsed.timestamp, nowSeconds, toleranceSeconds);
  if (!webhookSignatureMatches(decodeWebhookSecret(secret), parsed, body)) {
    throw new CountersignError(
      ErrorCode.BadSignature,
      parsed.v1Signatures.length === 0
        ? 'webhook-signature holds no v1 signature'
        : 'webhook-signature does not match the body, webhook-id and webhook-timestamp',
    );
  }
  return parsed;
}
