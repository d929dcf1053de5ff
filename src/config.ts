import { z } from 'zod';
import { decodeWebhookSecret, MIN_SECRET_BYTES } from './adapters/http/auth/standard-webhooks.js';
import { AgentNetworks } from './core/agent-networks.js';
import { CountersignError, ErrorCode } from './core/errors.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const optionalNonEmpty = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** A URL with one of these schemes; `check` adds what else the variable needs of it. */
const urlOf = (protocols: string[], check?: (url: URL) => string | undefined) =>
  z.string().transform((value, ctx) => {
    // Parsed here, once: a value URL cannot parse is an issue that names the variable, never a
    // TypeError thrown past the schema.
    const url = URL.parse(value);
    if (!url) {
      ctx.addIssue({ code: 'custom', message: `must be a URL (${protocols.join(', ')})` });
      return z.NEVER;
    }
    const problem = protocols.includes(url.protocol) ? check?.(url) : `must use ${protocols.join(' or ')}`;
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return value;
  });

/** REDIS_URL: a database is named by number in the path, or not at all (ioredis reads any other path as database 0). */
const redisUrlProblem = (url: URL) => (/^\/?$|^\/\d{1,5}$/.test(url.pathname) ? undefined : `must name a database by number (redis://host:6379/2) or none, not "${url.pathname}"`);

/** COUNTERSIGN_PUBLIC_URL becomes every grant's issuer: no credentials, query or fragment in it. */
const publicUrlProblem = (url: URL) =>
  url.username || url.password ? 'must not carry credentials (it is the grant issuer)' : url.search || url.hash ? 'must not have a query or fragment (it is the grant issuer)' : undefined;

/** True when the value is a usable Standard Webhooks secret (`whsec_<base64>`, long enough). */
function isWebhookSecret(secret: string): boolean {
  try {
    decodeWebhookSecret(secret);
    return true;
  } catch {
    return false;
  }
}

/** LOG_LEVEL: one of pino's levels, any case, spaces around ignored; unset or empty is `info`. */
export const LogLevelSchema = optionalNonEmpty.pipe(
  z
    .string()
    .transform((v) => v.toLowerCase())
    .pipe(z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }))
    .default('info'),
);

/** Retention of finished gates when COUNTERSIGN_RETENTION_DAYS is not set. */
export const DEFAULT_RETENTION_DAYS = 90;
/** Longer than an Idempotency-Key is remembered (24 h), so a late retry never meets a retired gate's key. */
export const MIN_RETENTION_DAYS = 2;

/** The environment variables Countersign reads (DESIGN.md, "Configuration"). */
export const ConfigSchema = z
  .object({
    REDIS_URL: optionalNonEmpty.pipe(urlOf(['redis:', 'rediss:'], redisUrlProblem).optional()),
    // Digits only: `0x1F90`, `3e3` or an empty value (a template that rendered nothing) must not
    // become some port nobody checks.
    PORT: optionalNonEmpty.pipe(
      z
        .string()
        .regex(/^\d{1,5}$/, { message: 'must be a port number (0–65535, digits only)' })
        .transform(Number)
        .pipe(z.number().max(65_535, { message: 'must be a port number (0–65535, digits only)' }))
        .default(3000),
    ),
    HOST: optionalNonEmpty.pipe(
      z
        .string()
        .regex(/^[A-Za-z0-9.:-]{1,253}$|^\[[0-9A-Fa-f:.]+\]$/, { message: 'must be a host name or an IP address to listen on' })
        .default('0.0.0.0'),
    ),
    SLACK_BOT_TOKEN: optionalNonEmpty.pipe(
      z.string().regex(/^xoxb-/, { message: 'must be a bot token (xoxb-…)' }).optional(),
    ),
    SLACK_SIGNING_SECRET: optionalNonEmpty,
    SLACK_APP_TOKEN: optionalNonEmpty.pipe(
      z.string().regex(/^xapp-/, { message: 'must be an app-level token (xapp-…)' }).optional(),
    ),
    SLACK_API_URL: optionalNonEmpty.pipe(urlOf(['http:', 'https:']).optional()),
    COUNTERSIGN_POLICIES: z.string().min(1).default('./policies'),
    COUNTERSIGN_KEYS: optionalNonEmpty,
    // Taken exactly as written: it is every grant's `iss`, which executors pin character for character.
    COUNTERSIGN_PUBLIC_URL: optionalNonEmpty.pipe(urlOf(['http:', 'https:'], publicUrlProblem).optional()),
    /** The Slack user group whose members may run admin commands (freeze, mode, break-glass …). */
    COUNTERSIGN_ADMIN_GROUP: optionalNonEmpty.pipe(
      z.string().regex(/^S[A-Z0-9]{2,20}$/, { message: 'must be a Slack user group id (S…)' }).optional(),
    ),
    /** Signs callbacks to agents that have no HMAC secret of their own (OIDC agents). */
    COUNTERSIGN_DELIVERY_SECRET: optionalNonEmpty.pipe(
      z
        .string()
        .refine(isWebhookSecret, { message: `must be a Standard Webhooks secret: whsec_ and base64 of at least ${MIN_SECRET_BYTES} bytes` })
        .optional(),
    ),
    /**
     * How long a gate stays in Redis after reaching a final state, in days, or `forever`. Its
     * audit links stay in the deployment chain either way (see GateRetention).
     */
    COUNTERSIGN_RETENTION_DAYS: optionalNonEmpty
      .refine((v) => v === undefined || v === 'forever' || (/^\d+$/.test(v) && Number(v) >= MIN_RETENTION_DAYS && Number(v) <= 36_500), {
        message: `must be a whole number of days from ${MIN_RETENTION_DAYS} to 36500, or forever`,
      })
      .transform((v): number | 'forever' => (v === undefined ? DEFAULT_RETENTION_DAYS : v === 'forever' ? 'forever' : Number(v))),
    /**
     * Non-public networks agent URLs may lead to: `loopback`, `private` and CIDRs, comma-separated.
     * Unset: public addresses only (see AgentNetworks).
     */
    COUNTERSIGN_AGENT_NETWORKS: optionalNonEmpty.transform((value, ctx) => {
      if (value === undefined) return undefined;
      const parsed = AgentNetworks.parse(value);
      if ('networks' in parsed) return parsed.networks;
      for (const problem of parsed.problems) ctx.addIssue({ code: 'custom', message: `is invalid: ${problem}` });
      return z.NEVER;
    }),
    LOG_LEVEL: LogLevelSchema,
  })
  .superRefine((c, ctx) => {
    if (c.SLACK_BOT_TOKEN && !c.SLACK_APP_TOKEN && !c.SLACK_SIGNING_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['SLACK_SIGNING_SECRET'],
        message: 'is required in HTTP mode (SLACK_BOT_TOKEN set without SLACK_APP_TOKEN)',
      });
    }
    if (c.SLACK_APP_TOKEN && !c.SLACK_BOT_TOKEN) {
      ctx.addIssue({ code: 'custom', path: ['SLACK_BOT_TOKEN'], message: 'is required when SLACK_APP_TOKEN is set' });
    }
  });

export type Config = z.output<typeof ConfigSchema>;

/**
 * Reads and validates the configuration. A bad value throws `ERR_CONFIG_INVALID` whose message
 * names every offending variable, so the start stops with a message an operator can act on.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'} ${issue.message}`);
  throw new CountersignError(ErrorCode.ConfigInvalid, `invalid configuration:\n  ${lines.join('\n  ')}`, {
    issues: parsed.error.issues.map((i) => ({ pointer: `/${i.path.join('/')}`, message: i.message })),
  });
}

/** Public base URL used as the grant issuer and in links. */
export function publicUrl(config: Config, port: number): string {
  return config.COUNTERSIGN_PUBLIC_URL ?? `http://localhost:${port}`;
}

/** The retention of finished gates in milliseconds, undefined when they are kept forever. */
export function retentionMs(config: Pick<Config, 'COUNTERSIGN_RETENTION_DAYS'>): number | undefined {
  const days = config.COUNTERSIGN_RETENTION_DAYS;
  return days === 'forever' ? undefined : days * 86_400_000;
}
