import { mrkdwn, plural, slackDate } from '../../../blocks/format.js';
import { BLOCK_KIT } from '../../../blocks/kit-limits.js';
import type { Message } from '../../../blocks/types.js';
import { activeDeadline, type Gate } from '../../core/gate.js';
import type { PolicySet } from '../../core/policy/types.js';
import type { GateStore } from '../redis/gate-store.js';
import type { ReviewerDirectory } from '../slack/reviewer-directory.js';
import { NOTE_ESCALATED_TO, nonVoters, type SlackBroker } from '../slack/slack-broker.js';
import type { SlackOutbox } from './slack-outbox.js';
import type { ReviewerNudges } from './timers.js';

function threadMessage(text: string): Message {
  return { text: text.slice(0, 1_000), blocks: [{ type: 'section', text: mrkdwn(text, BLOCK_KIT.text) }] };
}

function progress(gate: Gate): string {
  const needed = gate.decision.review?.quorum ?? 1;
  const got = gate.votes.filter((v) => v.vote === 'approve').length;
  const deadline = activeDeadline(gate);
  return `${got} of ${plural(needed, 'approval')} so far${deadline !== undefined ? `; the window closes ${slackDate(deadline)}` : ''}`;
}

/**
 * Reminders and escalation, posted in the change record's thread through the Slack queue. The
 * thread job ids (`slack-thread-<gate>-remind-50`, `…-escalate`) and the post-once guard make
 * each of them appear once, however many timers or processes fire.
 */
export class SlackNudges implements ReviewerNudges {
  constructor(
    private readonly deps: {
      outbox: SlackOutbox;
      broker: SlackBroker;
      directory: ReviewerDirectory;
      store: GateStore;
      policy: () => PolicySet;
    },
  ) {}

  /** Mentions the reviewer set, and the fallback set once escalated. */
  async remind(gate: Gate, pct: number): Promise<void> {
    const { broker, directory, outbox } = this.deps;
    const set = broker.reviewerSetOf(gate);
    const escalated = gate.annotations[NOTE_ESCALATED_TO];
    const fallback = typeof escalated === 'string' ? this.deps.policy().reviewerSets.get(escalated) : undefined;
    const who = [set, fallback].filter((s) => s !== undefined).map((s) => directory.mention(s)).join(' ');
    const text = `:bell: Reminder${who ? ` for ${who}` : ''}: this request is still waiting for review (${pct} % of the review window has passed), ${progress(gate)}.`;
    await outbox.thread(gate.id, `remind-${pct}`, threadMessage(text));
  }

  /** Adds the fallback set's members to the gate's reviewers (keeping everyone already there) and tells them. */
  async escalate(gate: Gate, toSet: string): Promise<void> {
    const { directory, store, outbox, broker } = this.deps;
    const fallback = this.deps.policy().reviewerSets.get(toSet);
    if (!fallback) {
      // The set left the policy (a reload) after the gate was decided: retrying cannot bring it
      // back, so the thread says the escalation did not happen and the first set stays on it.
      const first = broker.reviewerSetOf(gate);
      await outbox.thread(
        gate.id,
        'escalate',
        threadMessage(`:warning: No decision yet, but the escalation to \`${toSet}\` did not happen: the policy in force has no reviewer set of that name. ${first ? `It still waits for ${directory.mention(first)}` : 'It still waits for its reviewers'}; ${progress(gate)}.`),
      );
      return;
    }
    const merged = new Map<string, string | undefined>(await directory.members(fallback));
    for (const [user, team] of await store.reviewers(gate.id)) merged.set(user, team);
    await store.setReviewers(gate.id, merged, gate.reviewDeadline, nonVoters(gate));
    await store.annotate(gate.id, NOTE_ESCALATED_TO, toSet);
    const first = broker.reviewerSetOf(gate);
    const text =
      `:rotating_light: No decision yet, so this request is escalated to ${directory.mention(fallback)} (${fallback.id}). ` +
      `You can now approve or deny it too${first ? `, alongside ${directory.mention(first)}` : ''}; ${progress(gate)}.`;
    await outbox.thread(gate.id, 'escalate', threadMessage(text));
  }
}
