import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AdminContext } from '../../app/admin/admin-context.js';
import type { AppContext, GateObserver } from '../../app/ports.js';
import type { PolicyOverrides } from '../../core/policy/types.js';
import { DeploymentAuditLog } from '../audit/deployment-log.js';
import { GateRetention } from '../audit/retention.js';
import type { GateStore } from '../redis/gate-store.js';
import type { Authenticator } from '../http/agent-api.js';
import type { Router } from '../http/router.js';
import { actionLabelFor, GateStats } from '../metrics/gate-stats.js';
import { countingAuthFailures, mountMetrics } from '../metrics/http.js';
import { PrometheusMetrics } from '../metrics/prometheus.js';
import type { PolicyStore } from '../policy/load.js';
import { AdminDirectory } from '../slack/admin-directory.js';
import { AppHome } from '../slack/app-home.js';
import { registerCommands, type ParkedDeliveries } from '../slack/commands.js';
import type { ReviewerDirectory } from '../slack/reviewer-directory.js';
import type { SlackApp } from '../slack/slack-app.js';
import { SecurityChannel } from '../slack/security-channel.js';
import type { SlackWrites } from '../slack/slack-writes.js';
import { HomeIndex } from './home-index.js';
import { RuntimeOverrides } from './overrides-store.js';
import { PostHocReviews } from './post-hoc-reviews.js';

export interface AdminOptions {
  /** How often each process re-reads the shared overrides. */
  overridesRefreshMs: number;
  /** First reminder after a break-glass, and the time between reminders, until two people reviewed it. */
  postHocRemindEveryMs: number;
  /** How often each process looks for overdue post-hoc reviews. */
  postHocCheckEveryMs: number;
  /** Shortest time between two App Home refreshes of one person after their votes. */
  homeRefreshEveryMs: number;
}

export const DEFAULT_ADMIN_OPTIONS: AdminOptions = {
  overridesRefreshMs: 1_000,
  postHocRemindEveryMs: 4 * 3_600_000,
  postHocCheckEveryMs: 60_000,
  homeRefreshEveryMs: 2_000,
};

export interface AdminDeps {
  redis: Redis;
  ctx: AppContext;
  policy: PolicyStore;
  policyDir: string;
  overrides: PolicyOverrides;
  adminGroup: string | undefined;
  logger: Logger;
  slack?: { app: SlackApp; writes: SlackWrites; directory: ReviewerDirectory } | undefined;
  /** Parked agent callbacks, for `/countersign deliveries`. */
  deliveries?: ParkedDeliveries | undefined;
  /** The process's recorders, when made before (see startRecorders); made here otherwise. */
  recorders?: Recorders;
}

/** The admin and audit side of a process: observers, metrics, overrides, commands, App Home. */
export interface AdminWiring {
  admin: AdminContext;
  observers: GateObserver[];
  metrics: PrometheusMetrics;
  stats: GateStats;
  audit: DeploymentAuditLog;
  runtime: RuntimeOverrides;
  home: HomeIndex;
  appHome?: AppHome;
  security?: SecurityChannel;
  /** Adds `GET /metrics`. */
  mount(router: Router): void;
  /** The agent authenticator, counting refused signatures and replays as bypass attempts. */
  countingAuth(auth: Authenticator): Authenticator;
  close(): Promise<void>;
}

export async function startAdmin(deps: AdminDeps, overrides: Partial<AdminOptions> = {}): Promise<AdminWiring> {
  const options = { ...DEFAULT_ADMIN_OPTIONS, ...overrides };
  const { redis, ctx, policy, logger } = deps;
  const now = ctx.now;
  const actionLabel = actionLabelFor((action) => policy.current().index.action(action)?.entry.id);
  const recorders = deps.recorders ?? startRecorders({ redis, store: ctx.store, now, logger, actionLabel });
  const { audit, stats, home } = recorders;
  const metrics = new PrometheusMetrics({ now, actionLabel, window: () => stats.window(7) });
  const postHoc = new PostHocReviews(redis);
  const reload = async () => {
    const result = await policy.reload();
    if (result.ok) return { ok: true as const, version: result.version };
    const problems = result.error.issues.length > 0 ? result.error.issues.map((i) => `${i.pointer} ${i.message}`) : [result.error.message];
    return { ok: false as const, problems };
  };
  const runtime = new RuntimeOverrides(redis, deps.overrides, {
    now,
    logger,
    onReloadRequest: async () => {
      const result = await reload();
      logger.info({ ok: result.ok, policyVersion: policy.current().version }, 'policy reloaded on request of another replica');
    },
  });
  await runtime.start(options.overridesRefreshMs);

  let security: SecurityChannel | undefined;
  let appHome: AppHome | undefined;
  if (deps.slack) {
    security = new SecurityChannel({ writes: deps.slack.writes, store: ctx.store, postHoc, channel: () => policy.current().defaults.securityChannel, logger });
  }
  const admin: AdminContext = {
    app: ctx,
    policy: () => policy.current(),
    reloadPolicy: reload,
    overrides: runtime,
    audit,
    postHoc,
    ...(security ? { security } : {}),
    postHocRemindEveryMs: options.postHocRemindEveryMs,
  };
  if (deps.slack) {
    const { app, writes, directory } = deps.slack;
    appHome = new AppHome({ store: ctx.store, home, stats, directory, writes, overrides: runtime, now, logger, refreshEveryMs: options.homeRefreshEveryMs });
    appHome.register(app.app);
    const homeRef = appHome;
    registerCommands(app.app, {
      admin,
      admins: new AdminDirectory(directory, deps.adminGroup),
      directory,
      home,
      stats,
      policyDir: deps.policyDir,
      refreshHome: (user) => homeRef.refresh(user),
      ...(deps.deliveries ? { deliveries: deps.deliveries } : {}),
    });
  }
  const reminders = security
    ? setInterval(() => {
        security!.remindDue(now(), options.postHocRemindEveryMs).catch((err: unknown) => logger.warn({ err }, 'post-hoc review reminders failed'));
      }, options.postHocCheckEveryMs)
    : undefined;
  reminders?.unref();

  return {
    admin,
    observers: [...recorders.observers, metrics, ...(appHome ? [appHome] : [])],
    metrics,
    stats,
    audit,
    runtime,
    home,
    ...(appHome ? { appHome } : {}),
    ...(security ? { security } : {}),
    mount: (router) => mountMetrics(router, metrics),
    countingAuth: (auth) => countingAuthFailures(auth, { bypassAttempt: (kind) => ctx.metrics?.bypassAttempt(kind) }),
    async close() {
      if (reminders) clearInterval(reminders);
      appHome?.close();
      runtime.stop();
      await recorders.close();
    },
  };
}

/** What every process that changes gates records, whatever else it runs (see startRecorders). */
export interface Recorders {
  audit: DeploymentAuditLog;
  stats: GateStats;
  home: HomeIndex;
  /** Set unless gates are kept forever. */
  retention?: GateRetention;
  /** All of them as gate observers. */
  observers: GateObserver[];
  /** Writes what is still held in memory (figures, audit copies). */
  close(): Promise<void>;
}

/**
 * The observers that keep shared records true: the deployment audit chain's copy of every gate
 * link, the day's figures, and the reviewers' awaiting index. An API process gets them with the
 * admin side (startAdmin); a workers-only process needs them too, or what its jobs change (an
 * expiry, a revalidation's invalidation) would never be copied or counted.
 */
export function startRecorders(deps: {
  redis: Redis;
  store: GateStore;
  now: () => number;
  logger: Logger;
  actionLabel: (action: string) => string;
  /** How long finished gates stay (undefined: forever). */
  retentionMs?: number | undefined;
}): Recorders {
  const { redis, now, logger, actionLabel } = deps;
  const audit = new DeploymentAuditLog(redis, { now, logger });
  const stats = new GateStats(redis, { now, actionLabel, onError: (err) => logger.warn({ err }, 'could not write the shared figures; they are kept for the next write') });
  const home = new HomeIndex(redis);
  const retention = deps.retentionMs === undefined ? undefined : new GateRetention(redis, { store: deps.store, audit, now, logger, retentionMs: deps.retentionMs });
  return {
    audit,
    stats,
    home,
    ...(retention ? { retention } : {}),
    observers: [audit, stats, home, ...(retention ? [retention] : [])],
    async close() {
      await stats.flush().catch((err: unknown) => logger.warn({ err }, 'could not write the last shared figures'));
      await retention?.flush().catch((err: unknown) => logger.warn({ err }, 'could not index the last finished gates for retention; the backfill finds them'));
      await audit.close();
    },
  };
}
