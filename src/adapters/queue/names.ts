import { gateKeys } from '../redis/keys.js';
/**
 * Queue names, the BullMQ key prefix and every job id, in one place. Job ids are how
 * at-least-once work stays idempotent: two processes that schedule the same effect compute the
 * same id, and BullMQ keeps one job per id. BullMQ refuses ids with `:` and integer ids; gate
 * ids (`g_` + Crockford base32) have neither, and every id here starts with a word.
 */

/**
 * Prefix of every BullMQ key, apart from the gate keys (`cs:{g:…}`). On Redis Cluster use a
 * hash tag instead (for example `{cs-bull}`), as BullMQ asks.
 */
export const QUEUE_PREFIX = 'cs-bull';

export const QUEUE = {
  timers: 'timers',
  revalidation: 'revalidation',
  deliveries: 'deliveries',
  slack: 'slack',
} as const;
export type QueueName = (typeof QUEUE)[keyof typeof QUEUE];

/** Job names (BullMQ's `job.name`), per queue. */
export const TIMER_JOB = { expire: 'expire', tick: 'expire-due', remind: 'remind', escalate: 'escalate', sweep: 'sweep', rearm: 'rearm', retire: 'retire', auditHead: 'audit-head' } as const;
export const SLACK_JOB = {
  post: 'post',
  update: 'update',
  reply: 'reply',
  dm: 'dm',
  dmUpdate: 'dm-update',
  thread: 'thread',
  ephemeral: 'ephemeral',
} as const;
export type SlackJobName = (typeof SLACK_JOB)[keyof typeof SLACK_JOB];

export const jobId = {
  /** Expiry of one version of a gate: a later transition gets a new id, the old job finds it moved on. */
  expire: (gateId: string, version: number) => `expire-${gateId}-v${version}`,
  /** The expiry tick that ends at `end` (epoch ms): every gate due in that tick. */
  tick: (end: number) => `expire-due-${end}`,
  /** A reminder at `pct` % of the review window. */
  remind: (gateId: string, pct: number) => `remind-${gateId}-${pct}`,
  escalate: (gateId: string) => `escalate-${gateId}`,
  /** One revalidation slot of a gate (slots are fixed per gate, so two schedulers agree). */
  revalidate: (gateId: string, slot: number) => `revalidate-${gateId}-s${slot}`,
  deliver: (gateId: string, version: number) => `deliver-${gateId}-v${version}`,
  slackPost: (gateId: string) => `slack-post-${gateId}`,
  /**
   * Counted votes do not change a gate's version but do change its message, so the vote count is
   * part of the id: an update queued while an older one runs is never swallowed by it.
   */
  slackUpdate: (gateId: string, version: number, votes: number) => `slack-update-${gateId}-v${version}-n${votes}`,
  slackReply: (gateId: string, state: string) => `slack-reply-${gateId}-${state}`,
  slackDm: (gateId: string) => `slack-dm-${gateId}`,
  slackDmUpdate: (gateId: string, state: string) => `slack-dm-update-${gateId}-${state}`,
  slackThread: (gateId: string, key: string) => `slack-thread-${gateId}-${key}`,
  sweepBoot: (minute: number) => `rearm-boot-${minute}`,
} as const;

/** Throws on an id BullMQ would refuse, so a bad id fails where it is made, not in a worker. */
export function checkJobId(id: string): string {
  if (id.includes(':') || /^\d+$/.test(id)) throw new Error(`job id ${JSON.stringify(id)} is not usable with BullMQ`);
  return id;
}

/** Per-gate Redis hash for the Slack write state (what was posted, which revision is shown). */
export const slackStateKey = (gateId: string) => gateKeys(gateId).slack;

/**
 * Per-channel pacing keys, shared by every process: `next` is when the next message may be
 * posted (epoch ms), `hold` is when a 429's Retry-After ends. One hash tag per channel.
 */
export const channelKeys = (channel: string) => ({ next: `cs:slack:{${channel}}:next`, hold: `cs:slack:{${channel}}:hold` });
