/**
 * Webhook notifications at the end of a run. It collects the run's facts from events, decides
 * at `run-finished` whether to notify (`[notifications] on`; `change` compares with the
 * workspace's previous outcome), starts the deliveries at once, and `close()` waits for them —
 * at most {@link NotifyReporterOptions.maxWaitMs}, after which they are abandoned. A failed
 * delivery is one stderr warning per target (without the URL) and a `notify.failed` audit entry;
 * it never changes the run's exit code.
 */
import type { Reporter } from '../events/bus.js';
import type { RunEvent } from '../events/events.js';
import { readLastOutcome, shouldNotify, writeLastOutcome, type Outcome } from '../ops/notify/last-outcome.js';
import { hitRate, MAX_FAILED_LISTED, statusOf, type RunReport } from '../ops/notify/run-report.js';
import { sendToTargets, type NotifyTarget, type TargetResult } from '../ops/notify/targets.js';
import type { AuditSink } from './audit-reporter.js';

export interface NotifyReporterOptions {
  readonly on: 'never' | 'failure' | 'always' | 'change';
  readonly targets: readonly NotifyTarget[];
  readonly cacheDir: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly backoffMs: number;
  /** The longest the end of a run waits for notifications. */
  readonly maxWaitMs: number;
  readonly host: string;
  readonly version: string;
  readonly warn: (message: string) => void;
  readonly audit?: AuditSink;
}

/** The wait bound for given settings: every attempt timing out plus the backoff, capped at 30 s. */
export function notifyWaitBound(timeoutMs: number, retries: number, backoffMs: number): number {
  let total = timeoutMs * (retries + 1);
  for (let i = 0; i < retries; i++) total += Math.min(backoffMs * 2 ** i, 10_000);
  return Math.min(total + 500, 30_000);
}

export class NotifyReporter implements Reporter {
  readonly #opts: NotifyReporterOptions;
  #runId = '';
  #workspace = '';
  #startMs = 0;
  readonly #failed: string[] = [];
  #delivery: Promise<void> | undefined;
  readonly #deadline = new AbortController();

  constructor(opts: NotifyReporterOptions) {
    this.#opts = opts;
  }

  onEvent(event: RunEvent): void {
    if (event.type === 'run-started' && !event.dryRun) {
      this.#runId = event.runId;
      this.#workspace = event.workspace;
      this.#startMs = Date.parse(event.time);
    } else if (event.type === 'task-finished' && event.status === 'failed') {
      this.#failed.push(event.task);
    } else if (event.type === 'run-finished' && this.#runId && !this.#delivery) {
      this.#delivery = this.#finish(event);
    }
  }

  async #finish(event: Extract<RunEvent, { type: 'run-finished' }>): Promise<void> {
    const o = this.#opts;
    const status = statusOf(event.exitCode);
    if (o.targets.length === 0 || o.on === 'never') return;
    let notify: boolean;
    if (status === 'interrupted') notify = o.on === 'always';
    else {
      const outcome: Outcome = status === 'success' ? 'success' : 'failure';
      const previous = readLastOutcome(o.cacheDir, this.#workspace);
      notify = shouldNotify(o.on, outcome, previous);
      await writeLastOutcome(o.cacheDir, this.#workspace, outcome).catch((e: unknown) =>
        o.warn(`cannot record the run's outcome for notifications: ${e instanceof Error ? e.message : String(e)}`),
      );
    }
    if (!notify) return;
    const s = event.summary;
    const report: RunReport = {
      event: 'run.finished',
      runId: this.#runId,
      workspace: this.#workspace,
      status,
      exitCode: event.exitCode,
      summary: { total: s.total, executed: s.executed, cached: s.cached, failed: s.failed, skipped: s.skipped },
      failedTasks: this.#failed.slice(0, MAX_FAILED_LISTED),
      failedTasksTruncated: this.#failed.length > MAX_FAILED_LISTED,
      durationMs: Number.isFinite(this.#startMs) ? Math.max(0, Date.parse(event.time) - this.#startMs) : s.wallMs,
      cacheHitRate: hitRate(s),
      host: o.host,
      version: o.version,
      time: event.time,
    };
    const results = await sendToTargets(o.targets, report, { timeoutMs: o.timeoutMs, retries: o.retries, backoffMs: o.backoffMs, signal: this.#deadline.signal });
    for (const r of results) if (!r.ok) this.#reportFailure(r);
  }

  #reportFailure(r: TargetResult): void {
    this.#opts.warn(`the ${r.target} notification failed: ${r.error ?? 'unknown error'} (${r.attempts} attempt${r.attempts === 1 ? '' : 's'})`);
    this.#opts.audit?.append('notify.failed', { runId: this.#runId, target: r.target, error: r.error, attempts: r.attempts, ...(r.status !== undefined ? { status: r.status } : {}) });
  }

  /** Waits for the deliveries, at most `maxWaitMs`. */
  async close(): Promise<void> {
    if (!this.#delivery) return;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#opts.maxWaitMs);
    });
    const outcome = await Promise.race([this.#delivery.then(() => 'done' as const), bound]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      // Abort in-flight requests; their failures are then reported by #finish.
      this.#deadline.abort();
      await Promise.race([this.#delivery, new Promise((r) => setTimeout(r, 200))]);
    }
  }
}
