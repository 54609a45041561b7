/**
 * The reporters a `run` subscribes to its event bus: what a person or a program sees of the
 * run (progress bar on a terminal, plain lines in CI, NDJSON with `--json`), the report files
 * written when it ends (`--summary`, `--junit`, `--profile`, `--metrics`) and the Pushgateway
 * push (`--pushgateway` / `[prometheus] pushgateway_url`). Heavy ones (cli-progress,
 * prom-client) are loaded only when used.
 */
import { hostname } from 'node:os';
import path from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import type { EventBus, Reporter } from '../events/bus.js';
import type { Logger } from '../log/logger.js';
import type { OutputMode } from '../report/human-lines.js';
import { JsonReporter } from '../report/json-reporter.js';
import { JunitReporter } from '../report/junit-reporter.js';
import { MetricsFileReporter } from '../report/metrics-file-reporter.js';
import { PlainReporter } from '../report/plain-reporter.js';
import { ProfileReporter } from '../report/profile-reporter.js';
import { RunSummaryReporter } from '../report/run-summary-reporter.js';
import type { Style } from '../report/style.js';
import { VERSION } from './version.js';

/** The run options that choose reporters. */
export interface ReporterFlags {
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
  dryRun?: boolean;
  progress: boolean;
  outputMode: OutputMode;
  summary?: string;
  junit?: string;
  profile?: string;
  metrics?: string;
}

/** Subscribes the console reporter and the report-file reporters of a run (or dry run). */
export async function subscribeReporters(
  bus: EventBus,
  flags: ReporterFlags,
  ctx: { readonly style: Style; readonly jobs: number; readonly stdout: NodeJS.WriteStream; readonly stderr: NodeJS.WriteStream },
): Promise<void> {
  const human = { style: ctx.style, verbose: flags.verbose === true, quiet: flags.quiet === true, outputMode: flags.outputMode, jobs: ctx.jobs };
  let reporter: Reporter;
  if (flags.json) reporter = new JsonReporter(ctx.stdout);
  else if (flags.progress && !flags.quiet && !flags.dryRun && ctx.stdout.isTTY === true) {
    const { TtyReporter } = await import('../report/tty-reporter.js');
    reporter = new TtyReporter(human, ctx.stdout);
  } else reporter = new PlainReporter(human, ctx.stdout, ctx.stderr);
  bus.subscribe(reporter);
  if (flags.summary !== undefined) bus.subscribe(new RunSummaryReporter(path.resolve(flags.summary), { version: VERSION }));
  if (flags.junit !== undefined) bus.subscribe(new JunitReporter(path.resolve(flags.junit)));
  if (flags.profile !== undefined) bus.subscribe(new ProfileReporter(path.resolve(flags.profile)));
  if (flags.metrics !== undefined) bus.subscribe(new MetricsFileReporter(path.resolve(flags.metrics)));
}

/** Pushes the run's metrics to a Pushgateway when it ends (`--pushgateway`, else `[prometheus] pushgateway_url`). */
export async function subscribePushgateway(
  bus: EventBus,
  flag: string | undefined,
  ctx: { readonly loaded: LoadedConfig; readonly workspace: string; readonly logger: Logger },
): Promise<void> {
  const url = flag ?? (ctx.loaded.config.prometheus.pushgateway_url || undefined);
  if (url === undefined) return;
  // prom-client loads only now.
  const { attachPushgateway } = await import('../report/metrics-run.js');
  const warn = (message: string): void => ctx.logger.warn(message);
  attachPushgateway(bus, { url, job: ctx.loaded.config.prometheus.job, instance: hostname(), workspace: ctx.workspace, warn });
}
