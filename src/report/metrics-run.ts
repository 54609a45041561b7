/**
 * `run --pushgateway URL`: counts the run's events in a fresh registry (no process metrics: a
 * Pushgateway keeps the last push forever, and a finished CLI's heap size means nothing) and
 * pushes it when the run's reporters close. Loaded by dynamic import only when asked for.
 */
import type { EventBus } from '../events/bus.js';
import { PushgatewayReporter } from './metrics-push.js';
import { createMetrics } from './metrics-reporter.js';

export interface PushOptions {
  readonly url: string;
  readonly job: string;
  /** The `instance` grouping label: the host name by default. */
  readonly instance: string;
  /** Workspace label of the run's metrics. */
  readonly workspace: string;
  readonly warn: (message: string) => void;
  readonly timeoutMs?: number;
}

/** Subscribes the metrics reporter and, after it, the pusher (reporters close in order). */
export function attachPushgateway(bus: EventBus, opts: PushOptions): void {
  const metrics = createMetrics({ defaultMetrics: false });
  bus.subscribe(metrics.reporter(opts.workspace));
  bus.subscribe(
    new PushgatewayReporter(
      metrics.registry,
      { url: opts.url, job: opts.job, instance: opts.instance, ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) },
      opts.warn,
    ),
  );
}
