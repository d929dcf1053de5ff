/**
 * Keys of the deployment-wide audit chain. They share one hash tag, so the transaction that
 * appends to the chain, moves its head and records how far each gate was copied is one slot
 * (legal on Redis Cluster).
 */
export const AUDIT_KEYS = {
  /** The chain: a list of DeploymentRecord JSON, oldest first. */
  log: 'cs:{audit}:log',
  /** The last record's position and hash. */
  head: 'cs:{audit}:head',
  /** Gate id → the highest seq of its chain copied so far. */
  copied: 'cs:{audit}:copied',
  /**
   * The last archived record's position and hash (see archive.ts): the list starts right after
   * it. Absent until the first archive.
   */
  base: 'cs:{audit}:base',
} as const;

/** Match pattern of every gate's own audit chain (see src/adapters/redis/keys.ts). */
export const GATE_AUDIT_PATTERN = 'cs:{g:*}:audit';

/** The gate id inside a gate audit key. */
export function gateIdOfAuditKey(key: string): string | undefined {
  return /^cs:\{g:([^}]+)\}:audit$/.exec(key)?.[1];
}
