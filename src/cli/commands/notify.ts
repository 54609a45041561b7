/**
 * `reprovm notify test`: sends a sample notification to every configured target (generic
 * webhook, Slack, Discord) with the configured timeout and retries, and reports each one.
 */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { configuredTargets, sendToTargets } from '../../ops/notify/targets.js';
import type { RunReport } from '../../ops/notify/run-report.js';
import { ConfigError } from '../../config/load.js';
import { configErrorLines, loadCliConfig, withConfigOptions, type ConfigFlags } from '../cli-config.js';
import { notifyBackoffMs } from '../run-audit-notify.js';
import { VERSION } from '../version.js';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../log/logger.js';
import type { OpsIo } from './ops-context.js';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

/** `--config`, `--log-level`, `--log-file`, as every command takes them. */
type NotifyTestOptions = ConfigFlags;

/** The sample report of `notify test`. */
export function testReport(host: string, workspace: string): RunReport {
  return {
    event: 'test',
    runId: 'test',
    workspace,
    status: 'test',
    exitCode: 0,
    summary: { total: 0, executed: 0, cached: 0, failed: 0, skipped: 0 },
    failedTasks: [],
    failedTasksTruncated: false,
    durationMs: 0,
    cacheHitRate: null,
    host,
    version: VERSION,
    time: new Date().toISOString(),
  };
}

async function runTest(opts: NotifyTestOptions, io: OpsIo): Promise<number> {
  let cli;
  try {
    // Unknown keys and variables are warned about (through the logger) as in every other command.
    cli = loadCliConfig(opts, io, io.cwd);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr.write(configErrorLines(error));
    return EXIT_USAGE;
  }
  try {
    return await sendTest(cli.loaded.config, io, cli.logger);
  } finally {
    cli.logger.close();
  }
}

async function sendTest(config: Config, io: OpsIo, logger: Logger): Promise<number> {
  const targets = configuredTargets(config);
  if (targets.length === 0) {
    io.stderr.write('reprovm: error: no notification target is configured: set webhook_url, slack_webhook_url or discord_webhook_url in [notifications]\n');
    return EXIT_USAGE;
  }
  const n = config.notifications;
  const results = await sendToTargets(targets, testReport(hostname(), io.cwd), {
    timeoutMs: Math.max(1, n.timeout_seconds * 1000),
    retries: n.retries,
    backoffMs: notifyBackoffMs(io.env, (m) => logger.warn(m)),
  });
  for (const r of results) {
    const tries = `${r.attempts} attempt${r.attempts === 1 ? '' : 's'}`;
    io.stdout.write(r.ok ? `${r.target}: ok (HTTP ${r.status ?? '?'}, ${tries})\n` : `${r.target}: failed: ${r.error ?? 'unknown error'} (${tries})\n`);
  }
  return results.every((r) => r.ok) ? EXIT_OK : EXIT_FAILED;
}

/** Adds `notify test` to the program. */
export function registerNotifyCommand(program: Command, io: OpsIo, setExit: (code: number) => void): void {
  const notify = program.command('notify').description('webhook notifications (generic, Slack, Discord)');
  withConfigOptions(
    notify.command('test').description('send a test message to every configured target and report each (exit 1 if any failed)'),
  ).action(async (opts: NotifyTestOptions) => setExit(await runTest(opts, io)));
}
