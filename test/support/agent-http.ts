import { randomUUID } from 'node:crypto';
import { webhookHeaders } from '../../src/adapters/http/auth/standard-webhooks.js';

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/** Sends a request to the app and parses whatever comes back. */
export async function call(baseUrl: string, method: string, path: string, init: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<HttpAnswer> {
  const res = await fetch(`${baseUrl}${path}`, { method, headers: init.headers ?? {}, body: init.body ?? null });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** A signed agent request (Standard Webhooks + Countersign-Agent), as an agent would send it. */
export async function signedCall(
  baseUrl: string,
  agentId: string,
  secret: string,
  method: string,
  path: string,
  options: { json?: unknown; raw?: string | Buffer; headers?: Record<string, string>; idempotencyKey?: string | null; now?: number; webhookId?: string } = {},
): Promise<HttpAnswer> {
  const body = options.raw ?? (options.json === undefined ? '' : JSON.stringify(options.json));
  const headers: Record<string, string> = {
    'countersign-agent': agentId,
    ...webhookHeaders(secret, body, { ...(options.now ? { now: options.now } : {}), ...(options.webhookId ? { id: options.webhookId } : {}) }),
    ...(body.length > 0 ? { 'content-type': 'application/json' } : {}),
    ...(method === 'POST' && path === '/v1/gates' && options.idempotencyKey !== null
      ? { 'idempotency-key': options.idempotencyKey ?? randomUUID() }
      : {}),
    ...options.headers,
  };
  return call(baseUrl, method, path, { headers, body: body.length > 0 ? body : undefined });
}
