import type { IncomingMessage } from 'node:http';
import { CountersignError, ErrorCode } from '../../core/errors.js';

/**
 * Reads a request body up to `limit` bytes. A larger body is refused as soon as it crosses the
 * limit (by Content-Length or by counting), so a client cannot make us buffer more.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new CountersignError(ErrorCode.PayloadTooLarge, `body of ${declared} bytes exceeds the ${limit}-byte limit`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) {
      req.resume();
      throw new CountersignError(ErrorCode.PayloadTooLarge, `body exceeds the ${limit}-byte limit`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, size);
}

/** Refuses anything but a JSON content type (`application/json`, `application/*+json`). */
export function requireJsonContentType(req: IncomingMessage): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type)) return;
  throw new CountersignError(
    ErrorCode.UnsupportedMediaType,
    type ? `content type ${type} is not accepted; send application/json` : 'no content type; send application/json',
  );
}

/** Parses JSON, refusing invalid UTF-8 and anything that is not an object at the top. */
export function parseJsonObject(raw: Buffer): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new CountersignError(ErrorCode.MalformedJson, 'the body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CountersignError(ErrorCode.MalformedJson, `the body is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CountersignError(ErrorCode.MalformedJson, 'the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}
