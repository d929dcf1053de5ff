import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { CATEGORY_TEXT, describeAddress, type AddressVerdict, type AgentNetworks } from '../../core/agent-networks.js';
import { CountersignError, ErrorCode } from '../../core/errors.js';
import type { AgentRegistration } from '../../core/policy/agents.js';
import { isOutboundMessageId, OUTBOUND_ID_PREFIXES, webhookHeaders } from '../http/auth/standard-webhooks.js';

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

/** Resolves a host name to every address it has (the default asks the system resolver, like any connection would). */
export type Resolve = (hostname: string, family: 0 | 4 | 6) => Promise<Array<{ address: string; family: number }>>;

const systemResolve: Resolve = (hostname, family) => dnsLookup(hostname, { all: true, family });

/**
 * A call to an agent URL refused before any byte was sent: the address it leads to is not one
 * COUNTERSIGN_AGENT_NETWORKS allows (or plain http to anything but loopback). Permanent: the
 * same URL leads to the same refusal, so jobs give up rather than retry.
 */
export class DestinationRefused extends CountersignError {
  override readonly name = 'DestinationRefused';

  constructor(
    /** The URL's host (never the whole URL: its path or query may hold a token). */
    readonly host: string,
    readonly verdict: AddressVerdict,
    why: string,
  ) {
    super(ErrorCode.DestinationRefused, `${host} ${why}`, { details: { host, address: verdict.address, category: verdict.category } });
  }
}

/** Why connecting to `address` for `host` is refused, or undefined when it may go ahead. */
function refusal(networks: AgentNetworks, host: string, address: string, plainHttp: boolean): DestinationRefused | undefined {
  const verdict = networks.check(address);
  const named = isIP(host) === 0 ? `resolves to ${describeAddress(verdict)}, ` : `is `;
  if (!verdict.allowed) {
    return new DestinationRefused(host, verdict, `${named}${CATEGORY_TEXT[verdict.category]}, which COUNTERSIGN_AGENT_NETWORKS does not allow`);
  }
  if (plainHttp && verdict.category !== 'loopback') {
    return new DestinationRefused(host, verdict, `${named}${CATEGORY_TEXT[verdict.category]}: plain http is only for loopback addresses`);
  }
  return undefined;
}

/**
 * A `lookup` for node:http that resolves every address of the host and refuses the connection
 * when any of them is not allowed: what is checked is what the socket connects to, so a name
 * that resolves (or is re-pointed, DNS rebinding) to a private address is caught.
 */
function guardedLookup(networks: AgentNetworks, host: string, plainHttp: boolean, resolve: Resolve): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 4 || options.family === 6 ? options.family : 0;
    resolve(hostname, family).then(
      (addresses) => {
        if (addresses.length === 0) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
        for (const { address } of addresses) {
          const refused = refusal(networks, host, address, plainHttp);
          if (refused) return callback(refused, '', 0);
        }
        if (options.all) return callback(null, addresses as never);
        callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

export interface SignedPostOptions {
  secret: string;
  id: string;
  now: number;
  /** For the whole call: resolving, connecting, sending and reading the answer. */
  timeoutMs: number;
  /** Where the URL may lead (COUNTERSIGN_AGENT_NETWORKS). */
  networks: AgentNetworks;
  userAgent?: string;
  /** Tests point names at local addresses with it. */
  resolve?: Resolve;
}

/**
 * POSTs a JSON body signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`). The id stays the same across retries, so receivers can drop
 * duplicates; the timestamp is fresh each time, so a late retry is not refused as stale.
 * Redirects are not followed: a callback URL is taken as registered, never re-pointed.
 * The address connected to must be allowed by `networks` (checked for IP literals before
 * connecting, and for names on every address they resolve to): else `DestinationRefused`.
 */
export async function signedPost(url: string, body: string, options: SignedPostOptions): Promise<SignedAnswer> {
  // The agent's requests are refused when their id is in this namespace; ours must be in it.
  if (!isOutboundMessageId(options.id)) throw new Error(`outgoing webhook-id ${options.id} must begin with one of ${OUTBOUND_ID_PREFIXES.join(', ')}`);
  const target = new URL(url);
  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  const plainHttp = target.protocol === 'http:';
  if (!plainHttp && target.protocol !== 'https:') {
    throw new DestinationRefused(host, { allowed: false, address: host, category: 'reserved' }, `is called with ${target.protocol}, not https`);
  }
  // Node connects to an IP literal without a lookup: check it here.
  if (isIP(host) !== 0) {
    const refused = refusal(options.networks, host, host, plainHttp);
    if (refused) throw refused;
  }
  const request = plainHttp ? httpRequest : httpsRequest;
  return new Promise<SignedAnswer>((resolve, reject) => {
    let settled = false;
    const settle = (done: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done();
    };
    const req = request({
      hostname: host,
      port: target.port === '' ? undefined : Number(target.port),
      path: `${target.pathname}${target.search}`,
      method: 'POST',
      // A connection of its own each time: a pooled socket would skip the lookup that checks the address.
      agent: false,
      lookup: guardedLookup(options.networks, host, plainHttp, options.resolve ?? systemResolve),
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'user-agent': options.userAgent ?? 'countersign',
        ...webhookHeaders(options.secret, body, { id: options.id, now: options.now }),
      },
    });
    const timer = setTimeout(() => {
      const err = Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { name: 'TimeoutError' });
      settle(() => reject(err));
      req.destroy(err);
    }, options.timeoutMs);
    req.on('error', (err) => settle(() => reject(err)));
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      const answer = () => settle(() => resolve({ status, text: Buffer.concat(chunks, size).subarray(0, MAX_ANSWER_BYTES).toString('utf8') }));
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= MAX_ANSWER_BYTES) {
          // Enough: the rest is never read, and the connection is closed under it.
          answer();
          req.destroy();
        }
      });
      res.on('end', answer);
      res.on('error', (err) => settle(() => reject(err)));
      res.on('close', () => settle(() => reject(new Error('the answer was cut off'))));
    });
    req.end(body);
  });
}

/** The most of an agent's answer that is read: answers are small (a status, an evidence hash). */
export const MAX_ANSWER_BYTES = 64 * 1024;
