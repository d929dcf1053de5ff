import type { Authenticator } from '../http/agent-api.js';
import type { Router } from '../http/router.js';
import { ErrorCode, isCountersignError } from '../../core/errors.js';
import type { MetricsPort } from '../../app/ports.js';
import type { PrometheusMetrics } from './prometheus.js';

/** `GET /metrics` in the Prometheus text format. */
export function mountMetrics(router: Router, metrics: PrometheusMetrics): void {
  router.on('GET', '/metrics', async (request) => {
    request.req.resume();
    const { contentType, text } = await metrics.scrape();
    return { status: 200, raw: text, headers: { 'content-type': contentType, 'cache-control': 'no-store' } };
  });
}

/** Authentication failures that count as bypass attempts, by kind. */
const AUTH_BYPASS: Partial<Record<string, string>> = {
  [ErrorCode.BadSignature]: 'bad_signature',
  [ErrorCode.StaleTimestamp]: 'bad_signature',
  [ErrorCode.InvalidToken]: 'bad_signature',
  [ErrorCode.UnknownAgent]: 'bad_signature',
  [ErrorCode.ReplayedMessage]: 'replay',
};

/**
 * Wraps the agent authenticator so that refused signatures, tokens and replayed messages are
 * counted as bypass attempts where they happen, without the HTTP layer knowing about metrics.
 */
export function countingAuthFailures(auth: Authenticator, metrics: MetricsPort): Authenticator {
  return {
    async authenticate(req, role, options) {
      try {
        return await auth.authenticate(req, role, options);
      } catch (err) {
        const kind = isCountersignError(err) ? AUTH_BYPASS[err.code] : undefined;
        if (kind) metrics.bypassAttempt(kind);
        throw err;
      }
    },
  };
}
