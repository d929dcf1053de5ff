import { z } from 'zod';

/**
 * Registered agents and executors (policies/agents.yaml). Secrets never live in git: an HMAC
 * registration names the environment variable that holds its Standard Webhooks secret.
 */

export const AGENT_ID = /^[a-z][a-z0-9-]{1,62}$/;

/** `whsec_` + base64 (Standard Webhooks), or raw base64 of at least 24 bytes. */
export const ENV_NAME = /^[A-Z][A-Z0-9_]{1,127}$/;

export const HmacAuth = z.strictObject({
  method: z.literal('hmac'),
  /** Environment variable holding the secret, e.g. COUNTERSIGN_AGENT_DEPLOY_BOT_SECRET. */
  secretEnv: z.string().regex(ENV_NAME, { message: 'must be an environment variable name (UPPER_SNAKE)' }),
});

export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

export const OidcAuth = z.strictObject({
  method: z.literal('oidc'),
  /** Token issuer (`iss`), e.g. https://token.actions.githubusercontent.com. */
  issuer: z.url(),
  /** Where the issuer's keys are; defaults to `<issuer>/.well-known/jwks.json` via discovery-free convention. */
  jwksUri: z.url().optional(),
  /** Expected `aud`. */
  audience: z.string().min(1).max(256),
  /** Regular expression the token's `sub` must match in full. */
  subject: z.string().min(1).max(512),
  algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).default(['RS256', 'ES256']),
});

export const AgentAuth = z.discriminatedUnion('method', [HmacAuth, OidcAuth]);
export type AgentAuth = z.infer<typeof AgentAuth>;

export const AgentRegistration = z.strictObject({
  id: z.string().regex(AGENT_ID, { message: 'must be a lowercase id such as "deploy-bot"' }),
  /** `agent` asks for gates; `executor` verifies and consumes grants. */
  role: z.enum(['agent', 'executor']).default('agent'),
  description: z.string().max(500).optional(),
  /** The accountable human or team: an email or a Slack user id. */
  owner: z.string().min(1).max(254),
  auth: AgentAuth,
  /** Action ids (or `prefix.*` patterns) the agent may ask for; executors: the audiences they serve. */
  actions: z.array(z.string().min(1).max(128)).default([]),
});
export type AgentRegistration = z.output<typeof AgentRegistration>;

/** True when `action` is covered by one of the agent's action patterns (`*`, `k8s.*`, exact). */
export function agentMayRequest(agent: Pick<AgentRegistration, 'actions'>, action: string): boolean {
  return agent.actions.some((pattern) => {
    if (pattern === '*') return true;
    if (pattern.endsWith('.*')) return action.startsWith(pattern.slice(0, -1));
    return pattern === action;
  });
}
