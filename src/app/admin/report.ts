import { median, type Counts, type StatsWindow } from '../../adapters/metrics/gate-stats.js';

/** Above this share of actions needing a human, policy is probably too coarse (DESIGN.md). */
export const HUMAN_SHARE_SMELL = 0.15;

/** One action type's figures over the window. */
export interface ReportRow {
  action: string;
  requests: number;
  /** Share of requests that needed a human (0–1). */
  reviewShare: number;
  reviews: number;
  /** approved ÷ (approved + denied): of the reviews people decided, how many they approved. */
  approvalRate: number | undefined;
  /** Median time from request to the human decision, ms. */
  medianLatencyMs: number | undefined;
  denied: number;
  rejected: number;
  expired: number;
  /** Of `expired`: the review window ran out (the rest were approved but not redeemed in time). */
  reviewExpired: number;
  drift: number;
  breakGlass: number;
  /** Observe mode: requests that enforce mode would have sent to review, and the approval clicks that would take. */
  shadowReviews: number;
  shadowClicks: number;
  shadowRejects: number;
}

export interface Report {
  days: number;
  totals: ReportRow;
  rows: ReportRow[];
  /** Observe-mode rules: what enforcing each would cost. */
  rules: Array<{ rule: string; shadowReviews: number; shadowClicks: number; shadowRejects: number }>;
  /** The rollout smell: true when more than {@link HUMAN_SHARE_SMELL} of requests needed a human. */
  tooCoarse: boolean;
}

/**
 * The share of requests that need a human under enforce mode: in observe mode what the gate
 * would ask for, not what it let through (figures from before `enforce_review` was counted fall
 * back to the real reviews). This is the figure that says whether the gate is too coarse.
 */
export function humanShare(c: Pick<Counts, 'created' | 'review' | 'enforce_review'>): number {
  return c.created === 0 ? 0 : Math.max(c.review, c.enforce_review ?? 0) / c.created;
}

function row(action: string, c: Counts, latencies: readonly number[]): ReportRow {
  const decided = c.approved + c.denied;
  return {
    action,
    requests: c.created,
    reviewShare: humanShare(c),
    reviews: c.review,
    approvalRate: decided === 0 ? undefined : c.approved / decided,
    medianLatencyMs: median(latencies),
    denied: c.denied,
    rejected: c.reject,
    expired: c.expired,
    reviewExpired: c.review_expired ?? 0,
    drift: c.invalidated,
    breakGlass: c.break_glass,
    shadowReviews: c.shadow_review,
    shadowClicks: c.shadow_clicks,
    shadowRejects: c.shadow_reject,
  };
}

/** The rollout report from the shared figures: busiest actions first. */
export function buildReport(window: StatsWindow): Report {
  const all = [...window.latencies.values()].flat();
  const rows = [...window.actions.entries()]
    .map(([action, counts]) => row(action, counts, window.latencies.get(action) ?? []))
    .sort((a, b) => b.requests - a.requests || a.action.localeCompare(b.action));
  const totals = row('all', window.all, all);
  return {
    days: window.days.length,
    totals,
    rows,
    rules: [...window.rules.entries()]
      .map(([rule, c]) => ({ rule, shadowReviews: c.shadow_review, shadowClicks: c.shadow_clicks, shadowRejects: c.shadow_reject }))
      .sort((a, b) => b.shadowClicks - a.shadowClicks || a.rule.localeCompare(b.rule)),
    tooCoarse: totals.requests > 0 && totals.reviewShare > HUMAN_SHARE_SMELL,
  };
}

const pct = (v: number | undefined) => (v === undefined ? '—' : `${(v * 100).toFixed(v < 0.1 && v > 0 ? 1 : 0)}%`);

/** A duration for people: `45s`, `12m`, `3.5h`. */
export function humanDuration(ms: number | undefined): string {
  if (ms === undefined) return '—';
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
}

/** The report as a fixed-width table (CLI). */
export function renderReportText(r: Report): string {
  const head = ['action', 'requests', 'human%', 'approved%', 'median', 'denied', 'rejected', 'expired', 'drift', 'break-glass', 'shadow reviews', 'shadow clicks'];
  const cells = (x: ReportRow) => [x.action, String(x.requests), pct(x.reviewShare), pct(x.approvalRate), humanDuration(x.medianLatencyMs), String(x.denied), String(x.rejected), String(x.expired), String(x.drift), String(x.breakGlass), String(x.shadowReviews), String(x.shadowClicks)];
  const table = [head, ...r.rows.map(cells), cells(r.totals)];
  const widths = head.map((_, i) => Math.max(...table.map((t) => t[i]!.length)));
  const line = (t: string[]) => t.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [`Countersign report, last ${r.days} day${r.days === 1 ? '' : 's'}`, '', line(head), ...r.rows.map((x) => line(cells(x))), line(cells(r.totals)), ''];
  out.push(
    r.tooCoarse
      ? `! ${pct(r.totals.reviewShare)} of requests needed a human (more than ${pct(HUMAN_SHARE_SMELL)}): the policy is probably too coarse.`
      : `${pct(r.totals.reviewShare)} of requests needed a human (smell threshold ${pct(HUMAN_SHARE_SMELL)}).`,
  );
  if (r.rules.length > 0) {
    out.push('', 'Observe-mode rules: what switching each to enforce would cost');
    for (const x of r.rules) out.push(`  ${x.rule}: ${x.shadowReviews} reviews (${x.shadowClicks} approval clicks), ${x.shadowRejects} refusals`);
  } else {
    out.push('', 'No observe-mode decisions in this window.');
  }
  return `${out.join('\n')}\n`;
}
