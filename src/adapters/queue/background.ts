import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AppContext, GateObserver } from '../../app/ports.js';
import { EvidenceProbeFailed, revalidateGate, type RevalidationOutcome } from '../../app/revalidate.js';
import type { PolicySet } from '../../core/policy/types.js';
import type { ReviewerDirectory } from '../slack/reviewer-directory.js';
import type { SlackBroker } from '../slack/slack-broker.js';
import type { SlackWrites } from '../slack/slack-writes.js';
import { quitWithin, settleWithin } from '../redis/settle-within.js';
import { ChannelLimiter } from './channel-limiter.js';
import {
  DEFAULT_DELIVERY_OPTIONS,
  GateDeliveries,
  listParkedDeliveries,
  replayParkedDeliveriesOf,
  replayParkedDelivery,
  runDelivery,
  type DeliveryJobData,
  type DeliveryOptions,
  type ParkedDelivery,
} from './deliveries.js';
import { jobId, QUEUE, QUEUE_PREFIX, TIMER_JOB, type QueueName } from './names.js';
import { PostOnce } from './post-once.js';
import { GateRevalidation, HttpEvidenceProbe, runRevalidation, type RevalidationJobData } from './revalidation.js';
import { SlackJobs } from './slack-jobs.js';
import { SlackNudges } from './slack-nudges.js';
import { SlackOutbox, type SlackJobData } from './slack-outbox.js';
import { Sweeper } from './sweeper.js';
import type { RetireReport } from '../audit/retention.js';
import { readChainHead } from '../audit/verify.js';
import { DEFAULT_SCHEDULE, EXPIRY_ONLY, type TimerSchedule } from './timer-plan.js';
import { GateTimers, runTimer, type TickJobData, type TimerJobData } from './timers.js';

export interface BackgroundOptions {
  /** Run workers in this process (the queues are always there, to enqueue). */
  runWorkers: boolean;
  prefix: string;
  /** When reminders and escalation fire (only with Slack: without it, gates get their expiry alone). */
  schedule: TimerSchedule;
  concurrency: Record<QueueName, number>;
  /** Expiry tick jobs are created this long ahead (until then the deadline index holds the deadlines). */
  timerLeadMs: number;
  /** Length of one expiry tick: a gate expires at most this long after its deadline (plus the work). */
  timerTickMs: number;
  sweepEveryMs: number;
  sweepGraceMs: number;
  sweepBatch: number;
  /** How often every waiting gate is checked for a lost timer chain (also once at start). */
  rearmEveryMs: number;
  revalidateEveryMs: number;
  /** How often finished gates past their retention are retired (when retention is on). */
  retireEveryMs: number;
  /**
   * How often the audit chain's head is written to the log (`audit chain head`): kept with the
   * logs, outside Redis, it is the anchor `audit verify --anchor` checks the chain against.
   */
  auditHeadEveryMs: number;
  /** Timeout of each request to an agent (callbacks, revalidation). */
  httpTimeoutMs: number;
  delivery: DeliveryOptions;
  slackChannelSpacingMs: number;
  /** How long a post attempt of unknown fate is waited for before the history is checked. */
  slackClaimGraceMs: number;
  /** A job whose worker stops renewing its lock (it died) is taken over after this. */
  lockDurationMs: number;
  stalledIntervalMs: number;
  /** On close, requests and jobs under way get this long to finish (see Countersign.close). */
  closeTimeoutMs: number;
}

/** The least time a step of close() gets, even past its deadline. */
const MIN_CLOSE_STEP_MS = 500;

export const DEFAULT_BACKGROUND_OPTIONS: BackgroundOptions = {
  runWorkers: true,
  prefix: QUEUE_PREFIX,
  schedule: DEFAULT_SCHEDULE,
  concurrency: { timers: 50, revalidation: 10, deliveries: 20, slack: 10 },
  timerLeadMs: 10_000,
  timerTickMs: 250,
  sweepEveryMs: 1_000,
  // The sweeper is the net for lost timers, not a second engine: a backlog of due jobs is not a loss.
  sweepGraceMs: 10_000,
  sweepBatch: 500,
  rearmEveryMs: 10 * 60_000,
  revalidateEveryMs: 3 * 60_000,
  retireEveryMs: 10 * 60_000,
  auditHeadEveryMs: 5 * 60_000,
  httpTimeoutMs: 10_000,
  delivery: DEFAULT_DELIVERY_OPTIONS,
  slackChannelSpacingMs: 1_000,
  slackClaimGraceMs: 15_000,
  lockDurationMs: 30_000,
  stalledIntervalMs: 30_000,
  closeTimeoutMs: 10_000,
};

export interface BackgroundDeps {
  /** The app's connection; BullMQ gets its own duplicates. */
  redis: Redis;
  ctx: AppContext;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  policy: () => PolicySet;
  slack?: { broker: SlackBroker; writes: SlackWrites; directory: ReviewerDirectory } | undefined;
  /** Retires finished gates past their retention (absent when gates are kept forever). */
  retention?: { retireDue(): Promise<RetireReport> } | undefined;
  /** Told of every failed job attempt (for the failure counter in /metrics). */
  jobFailed?: ((queue: QueueName, parked: boolean) => void) | undefined;
}

export type RevalidateNowResult = RevalidationOutcome | { kind: 'unreachable'; reason: string };

/** The background side of a process: queues (always), workers (when asked), and their observers. */
export interface Background {
  queues: { timers: Queue<TimerJobData>; revalidation: Queue<RevalidationJobData>; deliveries: Queue<DeliveryJobData>; slack: Queue<SlackJobData> };
  /** Timers, revalidation and deliveries; add them to the app's observers. */
  observers: GateObserver[];
  timers: GateTimers;
  sweeper: Sweeper;
  /** Set when Slack is configured: route the broker's writes through it. */
  outbox?: SlackOutbox;
  /**
   * Asks the agent for the current evidence hash now, outside the schedule. Drift invalidates
   * the gate; `unreachable` must be treated as a refusal, never as "unchanged". (Redeem does not
   * ask: the agent presents the hash there, and the redeem script compares it.)
   */
  revalidateNow(gateId: string): Promise<RevalidateNowResult>;
  listParkedDeliveries(start?: number, end?: number): Promise<ParkedDelivery[]>;
  countParkedDeliveries(): Promise<number>;
  replayParkedDelivery(jobId: string): Promise<boolean>;
  /** Sends every parked delivery of a gate again; how many there were. */
  replayParkedDeliveriesOf(gateId: string): Promise<number>;
  /**
   * Stops taking work, lets running jobs finish, closes the queues: all by `deadline` (epoch
   * ms; default closeTimeoutMs from now), each step given at least half a second.
   */
  close(deadline?: number): Promise<void>;
}

/**
 * Creates the queues and, unless `runWorkers` is false, the workers and the sweeper's schedule.
 * Several processes can run this against one Redis: job ids and the gate scripts make them
 * behave as one.
 */
export async function startBackground(deps: BackgroundDeps, overrides: Partial<BackgroundOptions> = {}): Promise<Background> {
  const options: BackgroundOptions = { ...DEFAULT_BACKGROUND_OPTIONS, ...overrides };
  const { ctx, logger, env } = deps;
  // BullMQ needs `maxRetriesPerRequest: null` (its blocking reads must not give up), and gets no
  // auto-pipelining: ioredis can lose track of replies when an auto-pipeline meets commands it
  // defines on the fly (ioredis #1931), which ends the process.
  // No command timeout either: blocking reads wait on purpose.
  const connection = deps.redis.duplicate({ maxRetriesPerRequest: null, enableAutoPipelining: false, commandTimeout: undefined });
  connection.on('error', (err: Error) => logger.warn({ err: err.message, connection: 'queues' }, 'redis connection error'));
  // The job handlers get a connection of their own when the app's auto-pipelines: under a burst
  // of expiries auto-pipelining queued their round trips behind each other (bench/expiry.ts: p99
  // lateness 2.6 s with it, 0.6 s without, at 1,667 expiries a second). The connection npm start
  // makes batches its writes instead (connectRedis), with no such queue: the jobs share it
  // (p99 333 ms in the same benchmark).
  const jobRedis = deps.redis.options.enableAutoPipelining ? deps.redis.duplicate({ enableAutoPipelining: false }) : deps.redis;
  if (jobRedis !== deps.redis) jobRedis.on('error', (err: Error) => logger.warn({ err: err.message, connection: 'jobs' }, 'redis connection error'));
  const jobCtx: AppContext = jobRedis === deps.redis ? ctx : { ...ctx, store: ctx.store.withConnection(jobRedis) };
  const queueOptions = { connection, prefix: options.prefix };
  const queues = {
    timers: new Queue<TimerJobData>(QUEUE.timers, queueOptions),
    revalidation: new Queue<RevalidationJobData>(QUEUE.revalidation, queueOptions),
    deliveries: new Queue<DeliveryJobData>(QUEUE.deliveries, queueOptions),
    slack: new Queue<SlackJobData>(QUEUE.slack, queueOptions),
  };
  for (const queue of Object.values(queues)) queue.on('error', (err) => logger.warn({ err: err.message, queue: queue.name }, 'queue error'));

  const timers = new GateTimers(queues.timers, ctx.now, deps.slack ? options.schedule : EXPIRY_ONLY, options.timerLeadMs, options.timerTickMs);
  const revalidation = new GateRevalidation(queues.revalidation, ctx.now, options.revalidateEveryMs);
  const deliveries = new GateDeliveries(queues.deliveries, options.delivery);
  const sweeper = new Sweeper({ ctx: jobCtx, redis: jobRedis, timers, timerQueue: queues.timers, revalidation, options: { graceMs: options.sweepGraceMs, batch: options.sweepBatch } });
  const probe = new HttpEvidenceProbe({ agent: (id) => ctx.agent(id), env, now: ctx.now, timeoutMs: options.httpTimeoutMs, networks: ctx.agentNetworks });

  let outbox: SlackOutbox | undefined;
  let slackJobs: SlackJobs | undefined;
  let nudges: SlackNudges | undefined;
  if (deps.slack) {
    const { broker, writes, directory } = deps.slack;
    outbox = new SlackOutbox(queues.slack, ctx.store);
    const limiter = new ChannelLimiter(jobRedis, options.slackChannelSpacingMs);
    const postOnce = new PostOnce({ redis: jobRedis, writes, logger, claimGraceMs: options.slackClaimGraceMs });
    slackJobs = new SlackJobs({ store: jobCtx.store, broker, directory, writes, outbox, limiter, postOnce, redis: jobRedis, now: ctx.now, logger });
    nudges = new SlackNudges({ outbox, broker, directory, store: jobCtx.store, policy: deps.policy });
  }

  const workers: Worker[] = [];
  if (options.runWorkers) {
    const workerOptions = (name: QueueName) => ({
      connection,
      prefix: options.prefix,
      concurrency: options.concurrency[name],
      lockDuration: options.lockDurationMs,
      stalledInterval: options.stalledIntervalMs,
    });
    const timerWorker = new Worker<TimerJobData>(
      QUEUE.timers,
      async (job: Job<TimerJobData>, token?: string) => {
        if (job.name === TIMER_JOB.tick) {
          const { from, to } = job.data as unknown as TickJobData;
          // Early (clock skew between hosts): wait for the tick's end, or its gates would be refused as not due.
          if (Date.now() < to) {
            await job.moveToDelayed(to, token);
            throw new DelayedError();
          }
          return sweeper.expireTick(from, to, String(job.id));
        }
        if (job.name === TIMER_JOB.sweep) return { ticks: await sweeper.promote(), ...(await sweeper.sweepOverdue()) };
        if (job.name === TIMER_JOB.rearm) return sweeper.rearm();
        if (job.name === TIMER_JOB.retire) return deps.retention ? deps.retention.retireDue() : 'retention off';
        if (job.name === TIMER_JOB.auditHead) {
          const head = await readChainHead(jobRedis);
          if (head) logger.info({ event: 'audit.head', pos: head.pos, hash: head.hash, anchor: `${head.pos}:${head.hash}` }, 'audit chain head');
          return head ?? 'empty';
        }
        return runTimer({ ctx: jobCtx, timers, nudges }, job, token);
      },
      workerOptions('timers'),
    );
    const revalidationWorker = new Worker<RevalidationJobData>(
      QUEUE.revalidation,
      (job) => runRevalidation({ ctx: jobCtx, probe, scheduler: revalidation }, job),
      workerOptions('revalidation'),
    );
    const deliveryWorker = new Worker<DeliveryJobData>(
      QUEUE.deliveries,
      (job) => runDelivery({ agent: (id) => ctx.agent(id), env, now: ctx.now, timeoutMs: options.httpTimeoutMs, networks: ctx.agentNetworks, logger }, job),
      workerOptions('deliveries'),
    );
    workers.push(timerWorker, revalidationWorker, deliveryWorker);
    // Only a process that can talk to Slack takes Slack jobs.
    if (slackJobs) {
      const jobs = slackJobs;
      workers.push(new Worker<SlackJobData>(QUEUE.slack, (job, token) => jobs.run(job, token), workerOptions('slack')));
    }
    for (const worker of workers) {
      worker.on('error', (err) => logger.warn({ err: err.message, queue: worker.name }, 'worker error'));
      worker.on('failed', (job, err) => {
        if (!job) return;
        // An UnrecoverableError (no secret, a refused destination) ends the job before its attempts run out.
        const parked = job.attemptsMade >= (job.opts.attempts ?? 1) || err.name === 'UnrecoverableError';
        deps.jobFailed?.(worker.name as QueueName, parked);
        logger.warn(
          { queue: worker.name, jobId: job.id, gateId: (job.data as { gateId?: string }).gateId, attempt: job.attemptsMade, parked, err: err.message },
          parked ? 'job failed for good' : 'job failed; will retry',
        );
      });
    }
    const template = { opts: { removeOnComplete: true, removeOnFail: { count: 100 } } };
    await queues.timers.upsertJobScheduler(TIMER_JOB.sweep, { every: options.sweepEveryMs }, { name: TIMER_JOB.sweep, ...template });
    await queues.timers.upsertJobScheduler(TIMER_JOB.rearm, { every: options.rearmEveryMs }, { name: TIMER_JOB.rearm, ...template });
    await queues.timers.upsertJobScheduler(TIMER_JOB.auditHead, { every: options.auditHeadEveryMs }, { name: TIMER_JOB.auditHead, ...template });
    // One schedule for all processes; a deployment that turns retention off removes it.
    if (deps.retention) await queues.timers.upsertJobScheduler(TIMER_JOB.retire, { every: options.retireEveryMs }, { name: TIMER_JOB.retire, ...template });
    else await queues.timers.removeJobScheduler(TIMER_JOB.retire);
    // A re-arm pass at start (one per minute however many processes start): timers lost while
    // nothing ran (a Redis restart without the queue's keys) come back before the first period.
    await queues.timers.add(TIMER_JOB.rearm, {} as TimerJobData, { jobId: jobId.sweepBoot(Math.floor(Date.now() / 60_000)), ...template.opts });
  }

  return {
    queues,
    observers: [timers, revalidation, deliveries],
    timers,
    sweeper,
    ...(outbox ? { outbox } : {}),
    async revalidateNow(gateId) {
      try {
        return await revalidateGate(ctx, probe, gateId);
      } catch (err) {
        if (err instanceof EvidenceProbeFailed) return { kind: 'unreachable', reason: err.message };
        throw err;
      }
    },
    listParkedDeliveries: (start, end) => listParkedDeliveries(queues.deliveries, start, end),
    countParkedDeliveries: () => queues.deliveries.getFailedCount(),
    replayParkedDelivery: (id) => replayParkedDelivery(queues.deliveries, id),
    async replayParkedDeliveriesOf(gateId) {
      const gate = await ctx.store.read(gateId);
      if (gate) return replayParkedDeliveriesOf(queues.deliveries, gateId, gate.version);
      // A gate retention removed: its parked jobs are found by what they carry.
      let replayed = 0;
      for (const parked of (await listParkedDeliveries(queues.deliveries, 0, 999)).filter((p) => p.gateId === gateId)) {
        if (await replayParkedDelivery(queues.deliveries, parked.jobId)) replayed += 1;
      }
      return replayed;
    },
    async close(deadline = Date.now() + options.closeTimeoutMs) {
      const left = () => Math.max(MIN_CLOSE_STEP_MS, deadline - Date.now());
      // Running jobs get until the deadline. Worker.close(true) cannot cut that short once a
      // graceful close is under way (BullMQ hands back the pending close), so a worker still
      // busy then is disconnected: its locks lapse and another worker takes the jobs over.
      const finished = await settleWithin(Promise.all(workers.map((w) => w.close())), left());
      if (!finished) {
        logger.warn({ timeoutMs: options.closeTimeoutMs }, 'jobs still running at shutdown; releasing them');
        for (const worker of workers) void worker.disconnect().catch(() => undefined);
      }
      // Both need Redis to answer; when it does not (paused, partitioned), the connections are
      // dropped instead of holding the process forever.
      const closed = await settleWithin(
        Promise.all(Object.values(queues).map((q) => q.close())).then(() => connection.quit()),
        left(),
      );
      if (!closed) {
        logger.warn({ timeoutMs: options.closeTimeoutMs }, 'Redis did not answer at shutdown; dropping the queue connections');
        for (const queue of Object.values(queues)) void queue.disconnect().catch(() => undefined);
        connection.disconnect();
      }
      if (jobRedis !== deps.redis) await quitWithin(jobRedis, closed ? left() : 0);
    },
  };
}
