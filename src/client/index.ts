/**
 * Countersign for agents and executors, in one import:
 * - agents: {@link CountersignClient} (`submit`, `wait`, `redeem`, `reportOutcome`) and
 *   {@link evidenceHash} (the hash to redeem with: of exactly what will run);
 * - executors: {@link verifyGrant} (signature, issuer, audience, expiry, exact action) and
 *   `CountersignClient.introspect` (consume the grant once).
 *
 * @example
 * ```ts
 * import { CountersignClient, evidenceHash, verifyGrant } from 'countersign/client';
 * ```
 */
export {
  CountersignClient,
  type CountersignClientOptions,
  type GateRequestBody,
  type GateState,
  type GateView,
  type IntrospectionResult,
  type OutcomeCall,
  type OutcomeReport,
  type RedeemedGrant,
  type WaitOptions,
} from './client.js';
export { CountersignApiError, CountersignClientError, WaitTimeoutError, type ProblemDetails } from './errors.js';
export { evidenceHash } from '../core/evidence-hash.js';
export {
  GRANT_TYP,
  GrantErrorCode,
  GrantVerificationError,
  verifyGrant,
  type GrantClaims,
  type GrantExpectation,
  type GrantResource,
  type VerifyGrantOptions,
} from './verify-grant.js';
