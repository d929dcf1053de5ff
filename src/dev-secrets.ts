import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { generateWebhookSecret } from './adapters/http/auth/standard-webhooks.js';
import { loadPolicySet } from './adapters/policy/load.js';

/** Where embedded-defaults mode writes the agent secrets it generated (git-ignored). */
export const DEV_SECRETS_FILE = join('.countersign', 'dev-agent-secrets.json');

/**
 * Embedded defaults only (no REDIS_URL): every HMAC agent whose secret variable is unset gets a
 * fresh random secret for this run, set in `env`. Never used when REDIS_URL is set. The secrets
 * reach .countersign/dev-agent-secrets.json only once this run is serving (see
 * writeDevelopmentSecrets): a second start that fails (its port is taken) must not replace the
 * secrets of the one that runs.
 */
export async function provideDevelopmentSecrets(policiesDir: string, env: NodeJS.ProcessEnv): Promise<Record<string, string>> {
  const policy = await loadPolicySet(policiesDir);
  const generated: Record<string, string> = {};
  for (const agent of policy.agents.values()) {
    if (agent.auth.method !== 'hmac' || env[agent.auth.secretEnv]) continue;
    const secret = generateWebhookSecret();
    env[agent.auth.secretEnv] = secret;
    generated[agent.id] = secret;
  }
  return generated;
}

/** Writes the generated secrets to .countersign/dev-agent-secrets.json (mode 0600), for local scripts to sign with. */
export function writeDevelopmentSecrets(generated: Record<string, string>, logger: Logger): void {
  if (Object.keys(generated).length === 0) return;
  mkdirSync('.countersign', { recursive: true, mode: 0o700 });
  writeFileSync(DEV_SECRETS_FILE, `${JSON.stringify(generated, null, 2)}\n`, { mode: 0o600 });
  logger.warn(
    { agents: Object.keys(generated), file: DEV_SECRETS_FILE },
    `development mode: generated throwaway secrets for ${Object.keys(generated).length} agents in ${DEV_SECRETS_FILE}`,
  );
}
