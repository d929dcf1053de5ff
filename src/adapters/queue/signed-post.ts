import type { AgentRegistration } from '../../core/policy/agents.js';
import { webhookHeaders } from '../http/auth/standard-webhooks.js';

/**
 * Environment variable with the secret that signs callbacks to agents that have no HMAC secret
 * of their own (OIDC agents). Without it, their callbacks are parked rather than sent unsigned.
 */
export const DELIVERY_SECRET_ENV = 'COUNTERSIGN_DELIVERY_SECRET';

/**
 * The secret our requests to an agent are signed with: the agent's own Standard Webhooks secret
 * (the one it signs its requests to us with) or, for agents that authenticate with OIDC, the
 * deployment's delivery secret. Undefined when neither is configured.
 */
export function agentSigningSecret(agent: AgentRegistration | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const own = agent?.auth.method === 'hmac' ? env[agent.auth.secretEnv] : undefined;
  const secret = own ?? env[DELIVERY_SECRET_ENV];
  return secret && secret.trim() !== '' ? secret : undefined;
}

export interface SignedAnswer {
  status: number;
  text: string;
}

/**
 * POSTs a JSON body signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`). The id stays the same across retries, so receivers can drop
 * duplicates; the timestamp is fresh each time, so a late retry is not refused as stale.
 * Redirects are not followed: a callback URL is taken as registered, never re-pointed.
 */
export async function signedPost(
  url: string,
  body: string,
  options: { secret: string; id: string; now: number; timeoutMs: number; userAgent?: string },
): Promise<SignedAnswer> {
  const res = await fetch(url, {
    method: 'POST',
    redirect: 'manual',
    signal: AbortSignal.timeout(options.timeoutMs),
    headers: {
      'content-type': 'application/json',
      'user-agent': options.userAgent ?? 'countersign',
      ...webhookHeaders(options.secret, body, { id: options.id, now: options.now }),
    },
    body,
  });
  return { status: res.status, text: await readAtMost(res, MAX_ANSWER_BYTES) };
}

/** The most of an agent's answer that is read: answers are small (a status, an evidence hash). */
export const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * The first `limit` bytes of a response body as UTF-8; the rest is never read (the stream is
 * cancelled), so an endpoint answering gigabytes costs no more memory than one answering 64 KiB.
 */
async function readAtMost(res: Response, limit: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks, size).subarray(0, limit).toString('utf8');
}
