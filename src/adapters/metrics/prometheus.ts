import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { GateChange, GateObserver, MetricsPort } from '../../app/ports.js';
import { HUMAN_SHARE_SMELL, humanShare } from '../../app/admin/report.js';
import type { StatsWindow } from './gate-stats.js';
import { QUEUE, type QueueName } from '../queue/names.js';

/** Kinds of bypass attempt that are always exported, even at zero (DESIGN.md, "Dual control"). */
export const BYPASS_KINDS = ['self_approval', 'owner_approval', 'non_reviewer', 'replay', 'late_vote', 'closed_gate_vote', 'bad_signature'] as const;


const HIGH = new Set(['high', 'critical']);

export interface PrometheusMetricsDeps {
  now: () => number;
  /** Catalogued actions by name, anything else as `unknown` (agents choose action strings). */
  actionLabel: (action: string) => string;
  /** The shared 7-day figures (all replicas), read when Prometheus scrapes. */
  window?: () => Promise<StatsWindow>;
}

/**
 * The Prometheus side: a registry of its own (nothing global), fed by gate changes and by the
 * use cases' bypass counts. Counters are per process, as Prometheus expects (sum them over
 * replicas); the share gauge reads the shared figures so every replica reports the same value.
 */
export class PrometheusMetrics implements MetricsPort, GateObserver {
  readonly registry = new Registry();
  private readonly created: Counter<'action' | 'decision' | 'mode'>;
  private readonly outcomes: Counter<'action' | 'outcome'>;
  private readonly latency: Histogram<'action' | 'decision'>;
  private readonly deniedHighRisk: Counter<'action' | 'by'>;
  private readonly drift: Counter<'action'>;
  private readonly breakGlass: Counter<'action'>;
  private readonly bypass: Counter<'kind'>;
  private readonly actions: Counter<'needed_human'>;
  private readonly shadow: Counter<'action' | 'would'>;
  private readonly jobFailures: Counter<'queue' | 'outcome'>;

  constructor(private readonly deps: PrometheusMetricsDeps) {
    const registers = [this.registry];
    this.created = new Counter({ name: 'countersign_gates_created_total', help: 'Gate requests by action, policy decision and mode', labelNames: ['action', 'decision', 'mode'], registers });
    this.outcomes = new Counter({
      name: 'countersign_gate_outcomes_total',
      help: 'What happened to gates, by action: allowed, rejected, approved, denied, expired, invalidated, cancelled, break_glass, redeemed, completed, failed',
      labelNames: ['action', 'outcome'],
      registers,
    });
    this.latency = new Histogram({
      name: 'countersign_approval_latency_seconds',
      help: 'Time from request to the human decision (approve or deny)',
      labelNames: ['action', 'decision'],
      buckets: [30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 43_200, 86_400],
      registers,
    });
    this.deniedHighRisk = new Counter({ name: 'countersign_denied_high_risk_total', help: 'High or critical risk actions refused, by reviewers or by policy', labelNames: ['action', 'by'], registers });
    this.drift = new Counter({ name: 'countersign_evidence_drift_total', help: 'Approvals voided because the evidence changed (invalidations)', labelNames: ['action'], registers });
    this.breakGlass = new Counter({ name: 'countersign_break_glass_total', help: 'Reviews bypassed by break-glass', labelNames: ['action'], registers });
    this.bypass = new Counter({ name: 'countersign_bypass_attempts_total', help: 'Refused attempts to get around dual control or authentication, by kind', labelNames: ['kind'], registers });
    this.actions = new Counter({ name: 'countersign_actions_total', help: 'Every gate request, by whether it needed a human', labelNames: ['needed_human'], registers });
    this.shadow = new Counter({ name: 'countersign_shadow_decisions_total', help: 'Observe-mode requests by what enforce mode would have decided', labelNames: ['action', 'would'], registers });
    this.jobFailures = new Counter({
      name: 'countersign_job_failures_total',
      help: 'Background job attempts that failed, by queue (timers, revalidation, deliveries, slack): retry (another attempt follows) or parked (no attempt left; Slack writes and agent callbacks are then missing)',
      labelNames: ['queue', 'outcome'],
      registers,
    });
    for (const kind of BYPASS_KINDS) this.bypass.inc({ kind }, 0);
    for (const queue of Object.values(QUEUE)) for (const outcome of ['retry', 'parked']) this.jobFailures.inc({ queue, outcome }, 0);
    for (const needed of ['true', 'false']) this.actions.inc({ needed_human: needed }, 0);

    const window = deps.window;
    const counted = this.actions;
    new Gauge({
      name: 'countersign_human_review_share',
      help: `Share of actions that needed a human over the last 7 days, all replicas (above ${HUMAN_SHARE_SMELL} policy is probably too coarse)`,
      labelNames: ['window'],
      registers,
      async collect() {
        let share: number;
        let w: Awaited<ReturnType<NonNullable<typeof window>>> | undefined;
        try {
          w = window ? await window() : undefined;
        } catch {
          // The shared figures cannot be read (Redis is down): this process's counters are still
          // served, the share falls back to them below.
          w = undefined;
        }
        if (w) {
          share = w.all.created === 0 ? 0 : humanShare(w.all);
        } else {
          // Without shared figures: this process's own counts since it started.
          const values = (await counted.get()).values;
          const needed = values.find((v) => v.labels.needed_human === 'true')?.value ?? 0;
          const total = values.reduce((sum, v) => sum + v.value, 0);
          share = total === 0 ? 0 : needed / total;
        }
        this.set({ window: '7d' }, share);
      },
    });
  }

  bypassAttempt(kind: string): void {
    this.bypass.inc({ kind });
  }

  /** A background job's attempt failed; `parked` when it will not be tried again. */
  jobFailed(queue: QueueName, parked: boolean): void {
    this.jobFailures.inc({ queue, outcome: parked ? 'parked' : 'retry' });
  }

  gateChanged(change: GateChange): void {
    const { gate } = change;
    const action = this.deps.actionLabel(gate.request.action);
    const d = gate.decision;
    switch (change.event) {
      case 'create':
        this.created.inc({ action, decision: d.outcome, mode: d.mode });
        // Needed under enforce mode: in observe mode what the gate would have asked for.
        this.actions.inc({ needed_human: String((d.shadow?.outcome ?? d.outcome) === 'review') });
        if (d.outcome === 'allow') this.outcomes.inc({ action, outcome: 'allowed' });
        if (d.outcome === 'reject') {
          this.outcomes.inc({ action, outcome: 'rejected' });
          if (HIGH.has(d.risk.level)) this.deniedHighRisk.inc({ action, by: 'policy' });
        }
        if (d.shadow) this.shadow.inc({ action, would: d.shadow.outcome });
        return;
      case 'vote':
        return;
      case 'approve':
      case 'deny': {
        this.outcomes.inc({ action, outcome: change.event === 'approve' ? 'approved' : 'denied' });
        this.latency.observe({ action, decision: change.event }, Math.max(0, this.deps.now() - gate.createdAt) / 1000);
        if (change.event === 'deny' && HIGH.has(d.risk.level)) this.deniedHighRisk.inc({ action, by: 'reviewer' });
        return;
      }
      case 'invalidate':
        this.outcomes.inc({ action, outcome: 'invalidated' });
        this.drift.inc({ action });
        return;
      case 'break_glass':
        this.outcomes.inc({ action, outcome: 'break_glass' });
        this.breakGlass.inc({ action });
        return;
      default: {
        const names: Record<string, string> = { expire: 'expired', cancel: 'cancelled', redeem: 'redeemed', complete: 'completed', fail: 'failed' };
        this.outcomes.inc({ action, outcome: names[change.event] ?? change.event });
      }
    }
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
