import type { Logger } from 'pino';
import { renderChangeRecord, type ChangeRecordView } from '../../../blocks/change-record.js';
import { renderDecisionThreadReply, renderRequesterNotice } from '../../../blocks/notices.js';
import type { Message } from '../../../blocks/types.js';
import type { GateChange, GateObserver } from '../../app/ports.js';
import type { Gate } from '../../core/gate.js';
import { isTerminal } from '../../core/gate-state.js';
import type { ReviewerSet } from '../../core/policy/schema.js';
import type { PolicySet } from '../../core/policy/types.js';
import type { GateStore } from '../redis/gate-store.js';
import type { ReviewerDirectory } from './reviewer-directory.js';
import type { MessageRef, SlackWrites } from './slack-writes.js';

export const NOTE_MESSAGE = 'slackMessage';
export const NOTE_REQUESTER = 'requesterSlackId';
/** Set (true) when the requester's Slack id was found by their email, not only sent by the agent. */
export const NOTE_REQUESTER_FROM_EMAIL = 'requesterSlackIdFromEmail';
export const NOTE_REQUESTER_DM = 'requesterDm';

/**
 * Slack ids among a gate's reviewers that the vote script refuses on it: the requester (the
 * resolved id, or the one the agent sent) and, where the policy excludes them, the agent's
 * owner when named by Slack id. (An owner or requester named only by email is refused by email
 * at vote time; their queue may still list the gate.)
 */
export function nonVoters(gate: Gate, requesterSlackId?: string): Set<string> {
  const out = new Set<string>();
  for (const id of [requesterSlackId, gate.annotations[NOTE_REQUESTER], gate.request.context.requester.slackUserId]) {
    if (typeof id === 'string' && id !== '') out.add(id);
  }
  const review = gate.decision.review ?? gate.decision.shadow?.review;
  const owner = gate.decision.agentOwner;
  if (review?.excludeAgentOwner && owner && !owner.includes('@')) out.add(owner);
  return out;
}
export const NOTE_NOTICE = 'slackNote';

/** Records the requester's Slack id, and whether it was found by their email (the vote script trusts only that). */
export async function annotateRequester(store: GateStore, gateId: string, resolved: { id: string; fromEmail: boolean }): Promise<void> {
  if (resolved.fromEmail) await store.annotate(gateId, NOTE_REQUESTER_FROM_EMAIL, true);
  await store.annotate(gateId, NOTE_REQUESTER, resolved.id);
}
/** Annotation naming the reviewer set a gate was escalated to. */
export const NOTE_ESCALATED_TO = 'escalatedTo';
export const NOTE_THREAD_REPLY = 'slackThreadReply';

export interface SlackBrokerDeps {
  writes: SlackWrites;
  directory: ReviewerDirectory;
  store: GateStore;
  policy: () => PolicySet;
  now: () => number;
  logger: Logger;
}

/** Where the broker's writes go when background workers make them (paced per channel, retried). */
export interface SlackWriteRouting {
  changed(change: GateChange): Promise<void>;
  refresh(gateId: string): Promise<void>;
}

/**
 * Keeps Slack telling the truth about every gate that needs humans: posts the change record to
 * the reviewer set's channel, tells the requester, updates the message after each vote, and at
 * the end removes the buttons, states the outcome and records it in the thread.
 */
export class SlackBroker implements GateObserver {
  private routing: SlackWriteRouting | undefined;
  private refreshing: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: SlackBrokerDeps) {}

  /** From now on, writes are queued through `routing` (the Slack write queue) instead of made here. */
  routeWritesThrough(routing: SlackWriteRouting): void {
    this.routing = routing;
  }

  async gateChanged(change: GateChange): Promise<void> {
    if (this.routing) return this.routing.changed(change);
    if (change.event === 'create') {
      if (change.gate.state === 'pending_review') await this.postReview(change.gate.id);
      return;
    }
    await this.refresh(change.gate.id);
  }

  /**
   * A Slack user group's members changed: each of these gates (waiting for review, or approved
   * and not yet redeemed) whose reviewer set, or the set it was escalated to, draws on the group
   * gets its reviewers again from the sets' members now (the group was forgotten by the
   * directory, so they are read from Slack). Someone removed from the group can no longer vote,
   * and their approval no longer counts when the gate is redeemed. Returns the gates updated.
   */
  async groupChanged(group: string, openIds: readonly string[]): Promise<string[]> {
    return this.refreshReviewers(openIds, (set) => set.usergroups.some((g) => g.id === group), { usergroup: group });
  }

  /**
   * The policy was reloaded: each of these gates (waiting for review, or approved and not yet
   * redeemed) whose reviewer set (or escalation set) is defined differently now gets its
   * reviewers from the new definition, so someone taken out of a set in `reviewers.yaml` can no
   * longer vote on gates posted before, nor release one they approved.
   */
  async policyReloaded(previous: PolicySet, openIds: readonly string[]): Promise<string[]> {
    const changed = (set: ReviewerSet) => JSON.stringify(previous.reviewerSets.get(set.id)) !== JSON.stringify(set);
    return this.refreshReviewers(openIds, changed, { policyVersion: this.deps.policy().version });
  }

  private refreshReviewers(openIds: readonly string[], affected: (set: ReviewerSet) => boolean, why: Record<string, string>): Promise<string[]> {
    // One refresh at a time in this process: a slower one that read Slack earlier must not
    // write its older member list over a newer one.
    const run = this.refreshing.then(() => this.refreshNow(openIds, affected, why));
    this.refreshing = run.catch(() => undefined);
    return run;
  }

  private async refreshNow(openIds: readonly string[], affected: (set: ReviewerSet) => boolean, why: Record<string, string>): Promise<string[]> {
    const { store, logger } = this.deps;
    const updated: string[] = [];
    for (const id of openIds) {
      // Posted or not yet: a gate whose change record waits for its slot has reviewers already.
      const gate = await store.get(id, this.deps.now());
      if (!gate || (gate.state !== 'pending_review' && gate.state !== 'approved')) continue;
      // An approved gate that policy allowed outright has no reviewers to keep current.
      if (gate.state === 'approved' && gate.decision.outcome !== 'review') continue;
      if (!this.setsOf(gate).some(affected)) continue;
      const members = await this.reviewersOf(gate);
      if (gate.state === 'approved') {
        // Nobody votes any more; redeem counts the approvals of these members only.
        await store.setReviewers(id, members);
        updated.push(id);
        logger.info({ gateId: id, ...why, reviewers: members.size }, 'reviewers of an approved gate updated');
        continue;
      }
      const dropped = await store.replaceReviewers(id, members, gate.reviewDeadline, nonVoters(gate));
      updated.push(id);
      logger.info({ gateId: id, ...why, reviewers: members.size, dropped }, 'reviewers of a waiting gate updated');
    }
    return updated;
  }

  /** The reviewer sets a gate waits on: its own, and the one it was escalated to. */
  private setsOf(gate: Gate): ReviewerSet[] {
    const escalated = gate.annotations[NOTE_ESCALATED_TO];
    return [this.reviewerSetOf(gate), typeof escalated === 'string' ? this.deps.policy().reviewerSets.get(escalated) : undefined].filter(
      (set): set is ReviewerSet => set !== undefined,
    );
  }

  /** Everyone who may vote on the gate now: its sets' members as the directory knows them (its own set's team labels first). */
  async reviewersOf(gate: Gate): Promise<Map<string, string | undefined>> {
    const members = new Map<string, string | undefined>();
    for (const set of this.setsOf(gate)) for (const [user, team] of await this.deps.directory.members(set)) if (!members.has(user)) members.set(user, team);
    return members;
  }

  /** The reviewer set a gate is reviewed by (the policy's default set when the named one is gone). */
  reviewerSetOf(gate: Gate): ReviewerSet | undefined {
    const policy = this.deps.policy();
    const review = gate.decision.review ?? gate.decision.shadow?.review;
    return policy.reviewerSets.get(review?.reviewerSet ?? '') ?? policy.reviewerSets.get(policy.defaults.defaultReviewerSet);
  }

  /**
   * Posts the change record once. Reviewers and the requester's Slack id are stored before the
   * message appears, so no click can arrive before the rules that judge it.
   */
  async postReview(gateId: string): Promise<MessageRef | undefined> {
    const { store, directory, writes, logger } = this.deps;
    let gate = await store.get(gateId, this.deps.now());
    if (!gate || gate.annotations[NOTE_MESSAGE]) return gate?.annotations[NOTE_MESSAGE] as MessageRef | undefined;
    const set = this.reviewerSetOf(gate);
    if (!set) {
      logger.error({ gateId }, 'no reviewer set to post to');
      return undefined;
    }
    const requester = gate.request.context.requester;
    const resolved = await directory.requesterSlackId(requester);
    const requesterSlackId = resolved?.id;
    if (resolved) await annotateRequester(store, gateId, resolved);
    await store.setReviewers(gateId, await directory.members(set), gate.reviewDeadline, nonVoters(gate, requesterSlackId));
    gate = (await store.read(gateId))!;
    const ref = await writes.post(set.channel, this.render(gate, set), {
      metadata: { event_type: 'countersign_gate', event_payload: { gate_id: gate.id } },
    });
    await store.annotate(gateId, NOTE_MESSAGE, ref);
    logger.info({ gateId, agentId: gate.agentId, channel: ref.channel, ts: ref.ts, event: 'slack_posted' }, 'change record posted');
    // Only a requester found by their email is told: an id the agent sent could be anyone's.
    if (requesterSlackId && resolved?.fromEmail) {
      const permalink = await writes.permalink(ref);
      const dm = await writes.dm(requesterSlackId, renderRequesterNotice(gate, { now: this.deps.now(), reviewers: directory.mention(set), ...(permalink ? { permalink } : {}) }));
      await store.annotate(gateId, NOTE_REQUESTER_DM, dm);
    }
    // The gate may have moved while we posted: show its latest state.
    const latest = await store.read(gateId);
    if (latest && latest.version !== gate.version) await this.refresh(gateId);
    return ref;
  }

  /** Re-renders the change record from the gate's current state; at the end, tells the thread and the requester. */
  async refresh(gateId: string, note?: string): Promise<void> {
    const { store, writes } = this.deps;
    if (note) await store.annotate(gateId, NOTE_NOTICE, note);
    if (this.routing) return this.routing.refresh(gateId);
    const gate = await store.get(gateId, this.deps.now());
    const ref = gate?.annotations[NOTE_MESSAGE] as MessageRef | undefined;
    if (!gate || !ref) return;
    const set = this.reviewerSetOf(gate);
    await writes.update(ref, this.render(gate, set));
    if (!isTerminal(gate.state) && gate.state !== 'approved') return;
    // One thread reply per outcome, whichever process or observer gets here first.
    if (!(await store.claimNote(gateId, `${NOTE_THREAD_REPLY}:${gate.state}`, this.deps.now()))) return;
    await writes.post(ref.channel, renderDecisionThreadReply(gate), { threadTs: ref.ts });
    const dm = gate.annotations[NOTE_REQUESTER_DM] as MessageRef | undefined;
    if (dm) {
      const notice = renderRequesterNotice(gate, { now: this.deps.now(), ...(set ? { reviewers: this.deps.directory.mention(set) } : {}) });
      await writes.update(dm, notice);
    }
  }

  /** The change record for a gate as it stands. */
  render(gate: Gate, set: ReviewerSet | undefined): Message {
    const review = gate.decision.review ?? gate.decision.shadow?.review;
    const approvals = gate.votes.filter((v) => v.vote === 'approve');
    const view: ChangeRecordView = {
      now: this.deps.now(),
      quorumProgress: {
        approvals: approvals.length,
        needed: review?.quorum ?? 1,
        ...(review && review.distinctTeams > 1
          ? { teamsNeeded: review.distinctTeams, teamsSoFar: new Set(approvals.map((v) => v.team).filter(Boolean)).size }
          : {}),
      },
    };
    if (set) {
      view.reviewerMention = this.deps.directory.mention(set);
      view.reviewerSetLabel = set.id;
    }
    const requesterSlackId = gate.annotations[NOTE_REQUESTER];
    if (typeof requesterSlackId === 'string' && gate.annotations[NOTE_REQUESTER_FROM_EMAIL] === true) view.requesterSlackId = requesterSlackId;
    const note = gate.annotations[NOTE_NOTICE];
    if (typeof note === 'string') view.note = note;
    return renderChangeRecord(gate, view);
  }
}
