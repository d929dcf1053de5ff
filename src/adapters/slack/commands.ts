import type { App, SlashCommand } from '@slack/bolt';
import { renderGate, renderHelp, renderNotAdmin, renderPending, replyText } from '../../../blocks/admin-replies.js';
import { code, escapeMrkdwn, escapeTruncate } from '../../../blocks/format.js';
import type { Message } from '../../../blocks/types.js';
import type { AdminActor, AdminContext } from '../../app/admin/admin-context.js';
import { adminCancel } from '../../app/admin/admin-cancel.js';
import { breakGlass, reviewBreakGlass } from '../../app/admin/break-glass.js';
import { freezeEnvironment, runtimeFreezesCovering, unfreezeEnvironment } from '../../app/admin/freeze.js';
import { setMode } from '../../app/admin/mode.js';
import { buildReport, humanDuration } from '../../app/admin/report.js';
import { isCountersignError } from '../../core/errors.js';
import type { Gate } from '../../core/gate.js';
import { mailboxOf } from '../../core/mailbox.js';
import { runPolicyTests } from '../policy/policy-tests.js';
import type { HomeIndex } from '../admin/home-index.js';
import type { GateStats } from '../metrics/gate-stats.js';
import type { ParkedDelivery } from '../queue/deliveries.js';
import type { AdminDirectory } from './admin-directory.js';
import { needsAdmin, parseCommand, type ParsedCommand } from './command-parser.js';
import { commandRefusal } from './command-refusals.js';
import { NOTE_REQUESTER } from './slack-broker.js';
import type { ReviewerDirectory } from './reviewer-directory.js';

export interface CommandDeps {
  admin: AdminContext;
  admins: AdminDirectory;
  directory: ReviewerDirectory;
  home: HomeIndex;
  stats: GateStats;
  /** The policy directory, for `policy test`. */
  policyDir: string;
  /** Called after an action that changes what a person's App Home shows. */
  refreshHome?: (user: string) => void;
  /** Parked agent callbacks (absent where no queue is at hand). */
  deliveries?: ParkedDeliveries;
  /** How long an answer may take to come with the acknowledgement (default 2 s). */
  ackWithinMs?: number;
}

/** What `deliveries` needs of the delivery queue. */
export interface ParkedDeliveries {
  list(start: number, end: number): Promise<ParkedDelivery[]>;
  count(): Promise<number>;
  replayOf(gateId: string): Promise<number>;
}

const PENDING_LIST = 20;
const PARKED_LIST = 20;
const pct = (v: number | undefined) => (v === undefined ? '—' : `${Math.round(v * 100)}%`);

/**
 * `/countersign`: read-only commands for everyone, the rest for admins. Every answer is
 * ephemeral and comes with the acknowledgement; input that does not parse gets the usage text,
 * and failures get an explanation, never an error dump.
 */
export function registerCommands(app: App, deps: CommandDeps): void {
  app.command('/countersign', async ({ command, ack, respond }) => {
    const work = run(deps, command).catch((err: unknown) => {
      if (!isCountersignError(err)) deps.admin.app.logger.error({ err, user: command.user_id, text: command.text.slice(0, 200) }, '/countersign failed');
      return replyText(commandRefusal(err));
    });
    // Slack waits three seconds for the acknowledgement. An answer ready by then comes with it;
    // one that takes longer (a slow Slack or Redis under a break-glass, a policy test) follows
    // through the command's response_url, so the user never sees a time-out for work that was done.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), deps.ackWithinMs ?? ACK_WITHIN_MS);
    });
    const quick = await Promise.race([work, late]);
    clearTimeout(timer);
    if (quick) {
      await ack({ response_type: 'ephemeral', text: quick.text, blocks: quick.blocks as never });
      return;
    }
    await ack({ response_type: 'ephemeral', text: ':hourglass_flowing_sand: Working on it: the answer follows here.' });
    const message = await work;
    try {
      await respond({ response_type: 'ephemeral', text: message.text, blocks: message.blocks as never });
    } catch (err) {
      deps.admin.app.logger.error({ err, user: command.user_id }, '/countersign: the late answer could not be sent through response_url');
    }
  });
}

/** How long a command's answer may take before the acknowledgement goes without it (Slack allows 3 s). */
const ACK_WITHIN_MS = 2_000;

async function run(deps: CommandDeps, command: SlashCommand): Promise<Message> {
  const parsed = parseCommand(command.text ?? '');
  const user = command.user_id;
  const isAdmin = await deps.admins.isAdmin(user);
  if (parsed.kind === 'help') return renderHelp(isAdmin);
  if (parsed.kind === 'usage') return renderHelp(isAdmin, parsed.problem);
  if (needsAdmin(parsed) && !isAdmin) {
    deps.admin.app.logger.warn({ actor: `slack:${user}`, event: 'admin_refused', command: parsed.kind }, 'admin command refused: not an admin');
    // A refused attempt is an admin event too: the audit shows who tried what.
    await deps.admin.audit.admin({ event: 'admin', actor: `slack:${user}`, at: deps.admin.app.now(), command: parsed.kind, args: { text: (command.text ?? '').slice(0, 500) }, result: 'refused: not an admin' });
    return renderNotAdmin(parsed.kind === 'policy' ? `policy ${parsed.sub}` : parsed.kind);
  }
  const email = await deps.directory.emailOf(user);
  const actor: AdminActor = { slackId: user, ...(email ? { email } : {}) };
  return execute(deps, parsed, actor, isAdmin);
}

/**
 * Whether someone who is not an admin may read a gate: one of its reviewers (the set it was
 * posted to, or escalated to), someone who voted on it, its requester, or the agent's owner.
 */
async function mayRead(deps: CommandDeps, gate: Gate, actor: AdminActor): Promise<boolean> {
  const id = actor.slackId;
  const requester = gate.request.context.requester;
  const owner = gate.decision.agentOwner;
  if (gate.votes.some((v) => v.voter === id)) return true;
  if (gate.annotations[NOTE_REQUESTER] === id || requester.slackUserId === id || owner === id) return true;
  if (actor.email && (mailboxOf(actor.email) === mailboxOf(requester.email) || (owner?.includes('@') && mailboxOf(owner) === mailboxOf(actor.email)))) return true;
  return (await deps.admin.app.store.reviewers(gate.id)).has(id);
}

async function readGates(deps: CommandDeps, ids: string[]): Promise<Gate[]> {
  const gates = await Promise.all(ids.map((id) => deps.admin.app.store.read(id)));
  return gates.filter((g): g is Gate => g !== undefined);
}

async function execute(deps: CommandDeps, c: Exclude<ParsedCommand, { kind: 'help' | 'usage' }>, actor: AdminActor, isAdmin: boolean): Promise<Message> {
  const { admin } = deps;
  const now = admin.app.now();
  switch (c.kind) {
    case 'pending': {
      // Admins see every waiting gate; everyone else their own queue (as on App Home).
      const { ids, total } = await deps.home.pending({ limit: PENDING_LIST, ...(isAdmin ? {} : { reviewer: actor.slackId }) });
      return renderPending(await readGates(deps, ids), total, now, isAdmin ? 'all' : 'yours');
    }
    case 'show': {
      const gate = await admin.app.store.get(c.gateId, now);
      if (gate && (isAdmin || (await mayRead(deps, gate, actor)))) return renderGate(gate, now);
      // The same answer whether the gate is missing or not theirs: no way to probe for ids.
      return replyText(
        isAdmin
          ? `:grey_question: There is no gate \`${c.gateId}\`.`
          : `:grey_question: There is no gate \`${c.gateId}\` that you review, requested or own the agent of. Admins can show any gate.`,
      );
    }
    case 'mode-show':
      return replyText(modeText(admin));
    case 'mode':
      await setMode(admin, { mode: c.mode, ...(c.rule ? { rule: c.rule } : {}), actor });
      if (c.mode === 'clear') {
        return replyText(`:white_check_mark: ${c.rule ? `Rule \`${c.rule}\`` : 'The global mode'} follows the policy files again, on every replica, from the next request on.\n${modeText(admin)}`);
      }
      return replyText(`:white_check_mark: ${c.rule ? `Rule \`${c.rule}\`` : 'Every rule'} is now in *${c.mode}* mode, on every replica, from the next request on.\n${modeText(admin)}`);
    case 'freeze': {
      const f = await freezeEnvironment(admin, { environment: c.environment, durationMs: c.durationMs, reason: c.reason, actor });
      const env = f.environments[0]!;
      return replyText(`:snowflake: \`${env}\` is frozen until <!date^${Math.floor(Date.parse(f.to) / 1000)}^{date_short_pretty} {time}|${f.to}>: every action there that is not read-only goes to review. Lift it with \`/countersign unfreeze ${env}\`.`);
    }
    case 'unfreeze': {
      const lifted = await unfreezeEnvironment(admin, { environment: c.environment === 'all' ? 'all' : c.environment, actor });
      if (lifted.length === 0) {
        const name = escapeMrkdwn(c.environment.slice(0, 64));
        const covering = c.environment === 'all' ? [] : runtimeFreezesCovering(admin, c.environment);
        if (covering.length > 0) {
          const patterns = covering.map((f) => `\`${f.environments.join(', ')}\``).join(', ');
          return replyText(`Nothing lifted: no runtime freeze is set on \`${name}\` itself, but ${patterns} still cover${covering.length === 1 ? 's' : ''} it. Lift ${covering.length === 1 ? 'that one' : 'those'} with \`/countersign unfreeze <pattern>\`.`);
        }
        return replyText(`Nothing to lift: no runtime freeze covers \`${name}\`. (Freezes in policies/freezes.yaml are changed in git.)`);
      }
      return replyText(`:sunny: Lifted ${lifted.map((f) => `\`${f.environments.join(', ')}\``).join(', ')}.`);
    }
    case 'policy':
      return policyCommand(deps, c.sub, actor);
    case 'stats':
      return replyText(statsText(await deps.stats.window(c.days, now)));
    case 'break-glass': {
      const { gate, review } = await breakGlass(admin, { gateId: c.gateId, actor, justification: c.justification });
      deps.refreshHome?.(actor.slackId);
      return replyText(`:rotating_light: Gate \`${gate.id}\` is *approved by break-glass*. The security channel has been told; ${review ? `${2 - review.reviews.length} people` : 'two people'} must review it afterwards.`);
    }
    case 'cancel': {
      const gate = await adminCancel(admin, { gateId: c.gateId, actor, ...(c.reason ? { reason: c.reason } : {}) });
      return replyText(gate.state === 'cancelled' ? `:no_entry_sign: Gate \`${gate.id}\` is cancelled.` : `Gate \`${gate.id}\` is ${gate.state}.`);
    }
    case 'deliveries':
      return replyText(await parkedText(deps));
    case 'deliveries-replay': {
      if (!deps.deliveries) return replyText('This process has no delivery queue.');
      const replayed = await deps.deliveries.replayOf(c.gateId);
      if (replayed === 0) return replyText(`No parked callback of \`${c.gateId}\`. (\`/countersign deliveries\` lists the parked ones.)`);
      await admin.audit.admin({ event: 'admin', actor: `slack:${actor.slackId}`, at: now, command: 'deliveries replay', args: { gateId: c.gateId }, result: `replayed ${replayed}` });
      return replyText(`:arrows_counterclockwise: Sent again: ${replayed} parked callback${replayed === 1 ? '' : 's'} of \`${c.gateId}\`, with a fresh set of attempts.`);
    }
    case 'review': {
      const record = await reviewBreakGlass(admin, { gateId: c.gateId, actor, isAdmin, verdict: c.verdict, note: c.note });
      const missing = Math.max(0, 2 - record.reviews.length);
      return replyText(`:white_check_mark: Your review of the break-glass on \`${c.gateId}\` is recorded (${c.verdict}). ${missing === 0 ? 'The post-hoc review is complete.' : `${missing} more needed.`}`);
    }
  }
}

async function parkedText(deps: CommandDeps): Promise<string> {
  if (!deps.deliveries) return 'This process has no delivery queue.';
  const [total, parked] = await Promise.all([deps.deliveries.count(), deps.deliveries.list(0, PARKED_LIST - 1)]);
  // Two reads: a replay may land between them.
  if (total === 0 || parked.length === 0) return ':white_check_mark: No agent callback is parked.';
  const lines = parked.map(
    (p) =>
      `• \`${p.gateId}\` ${code(p.event, 40)} to ${code(p.agentId, 70)} at ${code(p.url, 200)}: ${p.attempts} attempts, last ${p.failedAt ? `<!date^${Math.floor(Date.parse(p.failedAt) / 1000)}^{date_short_pretty} {time}|${p.failedAt}>` : 'at an unknown time'}: ${escapeTruncate(p.failedReason, 200)}`,
  );
  return [
    `*${total === 1 ? '1 agent callback is' : `${total} agent callbacks are`} parked*${total > parked.length ? ` (the newest ${parked.length} below)` : ''}. Send a gate's again once its agent answers: \`/countersign deliveries replay ${parked[0]!.gateId}\``,
    ...lines,
  ].join('\n');
}

function modeText(admin: AdminContext): string {
  const policy = admin.policy();
  const o = admin.overrides.snapshot();
  const fileModes = policy.rules.filter((r) => r.mode).map((r) => `\`${r.id}\` ${r.mode} (file)`);
  const runtime = Object.entries(o.ruleModes).map(([rule, mode]) => `\`${rule}\` ${mode} (runtime)`);
  return [
    `Global mode: *${o.mode ?? policy.defaults.mode}*${o.mode ? ' (runtime override)' : ' (policy default)'}`,
    `Per rule: ${[...runtime, ...fileModes].join(', ') || 'none'}`,
  ].join('\n');
}

async function policyCommand(deps: CommandDeps, sub: 'version' | 'reload' | 'test', actor: AdminActor): Promise<Message> {
  const { admin } = deps;
  if (sub === 'version') {
    const policy = admin.policy();
    const o = admin.overrides.snapshot();
    const freezes = [...policy.document.freezes.map((f) => `\`${f.id}\` (file) until ${f.to}`), ...o.freezes.map((f) => `\`${f.environments.join(', ')}\` (runtime) until ${f.to}: ${escapeMrkdwn(f.reason.slice(0, 100))}`)];
    return replyText(
      [`Policy \`${policy.version}\`: ${policy.rules.length} rules, ${policy.agents.size} agents, ${policy.reviewerSets.size} reviewer sets.`, modeText(admin), `Freezes: ${freezes.join('; ') || 'none'}`].join('\n'),
    );
  }
  if (sub === 'test') {
    const report = await runPolicyTests(deps.policyDir);
    const failed = report.failed.slice(0, 10).map((f) => `• ${f.file}: ${f.case.slice(0, 120)} — ${(f.problems[0] ?? '').slice(0, 200)}`);
    await admin.audit.admin({ event: 'admin', actor: `slack:${actor.slackId}`, at: admin.app.now(), command: 'policy test', args: {}, result: `${report.passed} passed, ${report.failed.length} failed` });
    return replyText(`${report.failed.length === 0 ? ':white_check_mark:' : ':x:'} Policy cases: ${report.passed} passed, ${report.failed.length} failed.${failed.length > 0 ? `\n${failed.join('\n')}` : ''}`);
  }
  const result = await admin.reloadPolicy();
  await admin.overrides.requestReload();
  await admin.audit.admin({ event: 'admin', actor: `slack:${actor.slackId}`, at: admin.app.now(), command: 'policy reload', args: {}, result: result.ok ? `loaded ${result.version}` : `failed: ${result.problems.length} problems` });
  if (result.ok) return replyText(`:white_check_mark: Policy reloaded: \`${result.version}\`. Every replica reloads within a second or two.`);
  await admin.security?.reloadFailed({ channel: admin.policy().defaults.securityChannel, actor: `slack:${actor.slackId}`, problems: result.problems }).catch(() => undefined);
  return replyText(`:x: The policy files do not validate; the last good set (\`${admin.policy().version}\`) stays in force.\n${result.problems.slice(0, 10).map((p) => `• ${p.slice(0, 250)}`).join('\n')}`);
}

function statsText(window: Parameters<typeof buildReport>[0]): string {
  const r = buildReport(window);
  const t = r.totals;
  const lines = [
    `*Last ${r.days} day${r.days === 1 ? '' : 's'}*: ${t.requests} requests · ${pct(t.reviewShare)} needed a human${r.tooCoarse ? ' :warning: (over 15 %: policy may be too coarse)' : ''} · approval rate ${pct(t.approvalRate)} · median decision ${humanDuration(t.medianLatencyMs)}`,
    `Denied ${t.denied} · rejected by policy ${t.rejected} · expired ${t.expired} · evidence drift ${t.drift} · break-glass ${t.breakGlass}`,
    ...(t.shadowReviews > 0 ? [`Observe mode: enforcing would have asked for ${t.shadowReviews} reviews (${t.shadowClicks} approval clicks).`] : []),
    '',
    ...r.rows.slice(0, 15).map((x) => `• \`${x.action}\`: ${x.requests} requests, ${pct(x.reviewShare)} reviewed, ${pct(x.approvalRate)} approved, median ${humanDuration(x.medianLatencyMs)}, ${x.denied} denied, ${x.drift} drift, ${x.breakGlass} break-glass`),
  ];
  return lines.join('\n');
}
