import type { IncomingMessage } from 'node:http';
import type { Params } from './slack-methods.js';

/** Reading Web API requests the way Slack does: form or JSON bodies, query strings. */

const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** Arguments that clients send JSON-encoded inside form bodies. */
const JSON_FIELDS = ['blocks', 'view', 'attachments', 'metadata'];

/** The body as text, or `undefined` when it is larger than any Web API call needs. */
export async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Arguments from a form or JSON body (and the query string), with JSON-encoded fields parsed. */
export function decodeParams(contentType: string, raw: string, query: URLSearchParams): { params: Params; invalidJson: boolean } {
  const params: Params = Object.fromEntries(query.entries());
  if (contentType === 'application/json') {
    if (raw.trim() === '') return { params, invalidJson: false };
    try {
      const body: unknown = JSON.parse(raw);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return { params, invalidJson: true };
      Object.assign(params, body);
      return { params, invalidJson: false };
    } catch {
      return { params, invalidJson: true };
    }
  }
  for (const [key, value] of new URLSearchParams(raw)) params[key] = value;
  for (const key of JSON_FIELDS) {
    const value = params[key];
    if (typeof value !== 'string') continue;
    try {
      params[key] = JSON.parse(value);
    } catch {
      // left as a string: the method answers invalid_blocks_format / invalid_arguments like Slack
    }
  }
  return { params, invalidJson: false };
}
