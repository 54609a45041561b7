/**
 * The no-op fast path, tried by bin/reprovm.js before the CLI proper is loaded. A plain build
 * command line (fast-path-args.ts) whose workspace holds a valid up-to-date stamp
 * (state/up-to-date-stamp.ts) is answered here: the same summary line, the same audit entries
 * (config.loaded, run.started, run.finished) and the same run-history line as a full no-op
 * run, without loading the engine, parsing the manifest or computing a task key.
 *
 * Whatever this path cannot answer exactly as the full run would goes to the full run: a
 * configuration with warnings or errors, side channels a no-op run still serves (a remote
 * cache, webhooks on every run or on change, a Pushgateway, automatic gc or backup, a log file,
 * debug logging), or `REPROVM_FAST_NOOP=0`.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { EventBus } from '../events/bus.js';
import { eventTime, type RunSummary } from '../events/events.js';
import { createLogger } from '../log/logger.js';
import { appendRunStats } from '../ops/run-history.js';
import { PlainReporter } from '../report/plain-reporter.js';
import { makeStyle } from '../report/style.js';
import { graphDigest } from '../state/graph-cache.js';
import { checkUpToDateStamp, stampDigest } from '../state/up-to-date-stamp.js';
import { fastPathArgs } from './fast-path-args.js';
import { attachRunAudit } from './run-audit.js';
import { resolveRunSettings } from './run-settings.js';
import { VERSION } from './version.js';

interface Io {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
}

/** True when a no-op run under this configuration does nothing beyond what this path does. */
export function fastNoopAllowed(config: Config): boolean {
  const n = config.notifications;
  const notifies = n.webhook_url !== '' || n.slack_webhook_url !== '' || n.discord_webhook_url !== '';
  return (
    (config.remote.url === '' || config.remote.mode === 'off') &&
    (!notifies || n.on === 'never' || n.on === 'failure') &&
    config.prometheus.pushgateway_url === '' &&
    config.cache.max_cache_size_mb === 0 &&
    config.cache.max_age_days === 0 &&
    !config.backup.auto_backup &&
    config.logging.file === '' &&
    config.logging.level !== 'debug'
  );
}

/**
 * The exit code when the command line was answered here (0: everything up to date), or
 * undefined when the full CLI must run it.
 */
export async function tryFastNoop(args: readonly string[], io: Io): Promise<number | undefined> {
  const started = performance.now();
  const parsed = fastPathArgs(args);
  if (!parsed || io.env.REPROVM_FAST_NOOP === '0') return undefined;
  let text: string;
  try {
    text = readFileSync(parsed.manifest, 'utf8');
  } catch {
    return undefined; // the full CLI words the error
  }
  const workspace = path.dirname(path.resolve(parsed.manifest));
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig({ env: io.env, workspace });
  } catch {
    return undefined;
  }
  if (loaded.warnings.length > 0 || !fastNoopAllowed(loaded.config)) return undefined;
  const digest = stampDigest({
    graphDigest: graphDigest({ text, file: parsed.manifest, workspace, allowAbsoluteInputs: false }),
    targets: parsed.targets,
    version: VERSION,
  });
  const proof = checkUpToDateStamp(workspace, digest, io.env);
  if (!proof) return undefined;

  const settings = resolveRunSettings(parsed.jobs !== undefined ? { jobs: parsed.jobs } : {}, loaded.config, { cpus: availableParallelism(), cwd: process.cwd(), workspace });
  const color = parsed.color && !io.env.NO_COLOR && io.stdout.isTTY === true;
  const logger = createLogger({ level: loaded.config.logging.level, stderr: io.stderr, config: loaded.config });
  const bus = new EventBus();
  bus.subscribe(new PlainReporter({ style: makeStyle(color), verbose: false, quiet: parsed.quiet, outputMode: 'prefixed', jobs: settings.jobs }, io.stdout, io.stderr));
  const audit = attachRunAudit(bus, { loaded, cacheDir: settings.cacheDir, uncachedTasks: [], env: io.env, logger });
  const runId = randomUUID();
  bus.emit({ type: 'run-started', time: eventTime(), runId, workspace, tasks: proof.tasks, jobs: settings.jobs, dryRun: false });
  const total = proof.tasks.length;
  const summary: RunSummary = {
    total, executed: 0, cached: total, failed: 0, skipped: 0, upToDate: total,
    wallMs: Math.round(performance.now() - started), savedMs: Math.round(proof.savedMs), interrupted: false,
  };
  bus.emit({ type: 'run-finished', time: eventTime(), runId, exitCode: 0, summary });
  await bus.close();
  await audit?.close();
  appendRunStats(settings.cacheDir, {
    time: new Date().toISOString(), workspace, total, executed: 0, cached: total, failed: 0, skipped: 0, wallMs: summary.wallMs,
  });
  logger.close();
  return 0;
}
