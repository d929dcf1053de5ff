import { z } from 'zod';

/**
 * The grant's wire contract (DESIGN.md, "Grants"), shared by the issuer (mintGrant), the
 * executor-side verifier (src/client/verify-grant.ts) and introspection. No I/O here, so the
 * verifier that executors import pulls in nothing but jose and zod.
 */

/** Protected header `typ` of every grant (RFC 8725 §3.11 explicit typing). */
export const GRANT_TYP = 'countersign-grant+jwt';

/** The only signature algorithm grants are issued with and accepted under. */
export const GRANT_ALG = 'ES256';

/** Grant lifetime when the policy names none. */
export const DEFAULT_GRANT_TTL_SECONDS = 300;

/**
 * The longest grant lifetime the product issues, whatever a policy asks for. The key ring keeps
 * a retired key published for at least this long, so no grant can outlive its key.
 */
export const MAX_GRANT_TTL_SECONDS = 3_600;

/**
 * Grant ids and other values that end up inside Redis keys: no `:` (key separator), no braces
 * (hash tags), nothing a log line would mangle.
 */
export const GRANT_ID = /^[A-Za-z0-9_-]{8,128}$/;

const nonEmpty = z.string().min(1);

/** Runtime shape of the claims, checked after the signature so a verified grant is also well formed. */
export const GrantClaimsSchema = z.object({
  iss: nonEmpty,
  aud: nonEmpty,
  sub: nonEmpty,
  act: z.object({ sub: nonEmpty }),
  jti: z.string().regex(GRANT_ID),
  gid: nonEmpty,
  iat: z.number().int(),
  nbf: z.number().int(),
  exp: z.number().int(),
  env: nonEmpty,
  action: nonEmpty,
  resources: z.array(z.object({ type: nonEmpty, id: nonEmpty })).min(1),
  permissions: z.array(z.string()),
  evh: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  approvers: z.array(z.string()),
  pol: z.string(),
});

/**
 * The claims of a grant. Times are NumericDate (epoch seconds), as in every JWT.
 * - `sub` is the agent, `act.sub` the human on whose behalf it acts (RFC 8693 §4.1);
 * - `gid` the gate, `jti` the grant (consumed once through introspection);
 * - `env`, `action`, `resources`, `permissions` the bounded action, `evh` its evidence hash;
 * - `approvers` who approved (empty when policy allowed it), `pol` the policy version.
 */
export type GrantClaims = z.infer<typeof GrantClaimsSchema>;

/** A resource as a grant names it: the type and id only (attributes stay in the gate). */
export interface GrantResource {
  type: string;
  id: string;
}
