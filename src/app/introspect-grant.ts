import { introspectGrant, type IntrospectionAnswer } from '../adapters/redis/grant-ledger.js';
import { CountersignError, ErrorCode } from '../core/errors.js';
import type { AgentRegistration } from '../core/policy/agents.js';
import { compileGlobs } from '../core/policy/patterns.js';
import { notifyLink, type AppContext } from './ports.js';
import type { GrantPorts } from './redeem-grant.js';

/** Longest token accepted for introspection; grants are about 1 KiB. */
const MAX_TOKEN_CHARS = 16 * 1024;

/** The `aud` a token claims, unverified: only used to pick which registered audience to check. */
function claimedAudience(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { aud?: unknown };
    return typeof payload.aud === 'string' ? payload.aud : undefined;
  } catch {
    return undefined;
  }
}

/**
 * An executor consumes a grant, once (RFC 7662 answer). The grant must be meant for one of the
 * audiences the executor is registered for, so an executor can neither learn about nor burn
 * another executor's grant; a grant used before answers `inactive, already_used` and counts as
 * a replay attempt.
 */
export async function introspect(
  ctx: AppContext,
  grants: GrantPorts,
  input: { executor: AgentRegistration; body: Record<string, unknown> },
): Promise<IntrospectionAnswer> {
  const token = input.body.token;
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS) {
    throw new CountersignError(ErrorCode.InvalidRequest, `token must be a grant (a JWT of at most ${MAX_TOKEN_CHARS} characters)`, {
      issues: [{ pointer: '/token', message: 'must be a non-empty string' }],
    });
  }
  // Registered audiences may be patterns (`deploy-*`). The claimed aud only selects the exact
  // string to require: introspectGrant verifies the signature over it before comparing.
  const claimed = claimedAudience(token);
  const audience = claimed !== undefined && compileGlobs(input.executor.actions).test(claimed) ? [claimed] : [];
  const now = ctx.now();
  const answer = await introspectGrant(token, {
    ring: grants.ring(),
    issuer: grants.issuer(),
    redis: grants.ledger,
    consumer: `executor:${input.executor.id}`,
    now,
    audience,
  });
  const log = { agentId: input.executor.id, actor: `executor:${input.executor.id}` };
  if (answer.active) {
    ctx.logger.info({ ...log, gateId: answer.gid, grantId: answer.jti, event: 'grant_consumed' }, 'grant consumed');
    // The consumption is a link of the gate's chain: the deployment chain copies it (after the
    // answer; the executor does not wait for that read).
    void ctx.store
      .read(answer.gid)
      .then((gate) => gate && notifyLink(ctx, gate))
      .catch(() => undefined);
  } else {
    if (answer.reason === 'already_used') ctx.metrics?.bypassAttempt('replay');
    ctx.logger.warn({ ...log, event: 'grant_refused', reason: answer.reason, bypass: answer.reason === 'already_used' ? 'replay' : null }, `introspection: inactive (${answer.reason})`);
  }
  return answer;
}
