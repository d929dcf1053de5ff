import type { IncomingMessage } from 'node:http';
import { firstDuplicateMember } from '../../core/duplicate-members.js';
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
  // A body already read to its end has nothing more to give (and emits no second 'end').
  if (req.readableEnded) return Buffer.alloc(0);
  // Events rather than `for await`: the async iterator costs a promise and its allocations per
  // chunk, on every request.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: Error) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err) reject(err);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        done(new CountersignError(ErrorCode.PayloadTooLarge, `body exceeds the ${limit}-byte limit`));
        req.resume();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => done();
    const onError = (err: Error) => done(err);
    // A client that goes away mid-body ends neither with 'end' nor always with 'error' (the
    // error is the one `for await` and stream.finished raise for it).
    const onClose = () => {
      if (!req.complete) done(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** Refuses anything but a JSON content type (`application/json`, `application/*+json`) in UTF-8. */
export function requireJsonContentType(req: IncomingMessage): void {
  const [media = '', ...params] = (req.headers['content-type'] ?? '').split(';');
  const type = media.trim().toLowerCase();
  if (type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    // JSON exchanged between systems is UTF-8 (RFC 8259 §8.1); a body declared otherwise would be misread.
    const charset = params.map((p) => /^\s*charset\s*=\s*"?([^";\s]*)"?\s*$/i.exec(p)?.[1]).find((c) => c !== undefined);
    if (charset === undefined || /^utf-?8$/i.test(charset)) return;
    throw new CountersignError(ErrorCode.UnsupportedMediaType, `charset ${charset.slice(0, 40)} is not accepted; JSON is sent as UTF-8`);
  }
  throw new CountersignError(
    ErrorCode.UnsupportedMediaType,
    type ? `content type ${type} is not accepted; send application/json` : 'no content type; send application/json',
  );
}

/** Stateless when not streaming: one serves every request. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses JSON, refusing invalid UTF-8, anything that is not an object at the top, and objects
 * that name a member twice or name one `__proto__` (see firstDuplicateMember).
 */
export function parseJsonObject(raw: Buffer): Record<string, unknown> {
  let text: string;
  try {
    text = UTF8.decode(raw);
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
  const repeated = firstDuplicateMember(text);
  if (repeated?.unsafeInteger !== undefined) {
    const shownAs = String(Number(repeated.unsafeInteger));
    const message = `is ${repeated.unsafeInteger.slice(0, 40)}, a whole number beyond 2^53 that JSON numbers (doubles) read as ${shownAs.slice(0, 40)}, while parsers with exact integers read it as written (send it as a string)`;
    throw new CountersignError(ErrorCode.MalformedJson, `the body is not I-JSON: ${repeated.pointer || 'the body'} ${message}`, {
      issues: [{ pointer: repeated.pointer, message }],
    });
  }
  if (repeated?.reserved) {
    const message = 'is named __proto__, which JavaScript objects cannot hold as plain data';
    throw new CountersignError(ErrorCode.MalformedJson, `the body names a member __proto__ at ${repeated.pointer}: ${message}`, {
      issues: [{ pointer: repeated.pointer, message }],
    });
  }
  if (repeated) {
    const message = `names the member ${JSON.stringify(repeated.name)} more than once`;
    throw new CountersignError(ErrorCode.MalformedJson, `the body is not I-JSON: ${repeated.pointer} ${message} (parsers disagree on which one counts)`, {
      issues: [{ pointer: repeated.pointer, message }],
    });
  }
  return value as Record<string, unknown>;
}
