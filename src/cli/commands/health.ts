/**
 * `reprovm health [--json]` (also the default command's `--health-check`): exit 0 ok,
 * 1 warning, 2 critical. The checks are in src/ops/health.ts.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { checkHealth, healthExitCode, type HealthReport } from '../../ops/health.js';
import { remoteForHealth } from '../../ops/open-remote.js';
import { loadOpsContext, withOpsOptions, type OpsIo, type OpsOptions } from './ops-context.js';

/** Human text of a health report. */
export function formatHealth(r: HealthReport): string {
  const lines = r.checks.map((c) => `[${c.status === 'ok' ? 'ok' : c.status === 'warning' ? 'WARN' : 'CRIT'}] ${c.name}: ${c.message}`);
  lines.push(`reprovm: health: ${r.status}`);
  return `${lines.join('\n')}\n`;
}

/** Registers `health`; `done` receives the exit code. */
export function registerHealthCommand(program: Command, io: OpsIo, done: (code: number) => void): void {
  withOpsOptions(program.command('health'))
    .description('check the cache dir, free disk, a sample of the cache, the remote, locks and the config; exit 0 ok / 1 warning / 2 critical')
    .option('--json', 'print the report as JSON: {status, checks: [{name, status, message}]}')
    .option('--workspace <dir>', 'workspace whose run lock (<dir>/.reprovm/lock) is checked (default: the current directory)')
    .action(async (opts: OpsOptions & { json?: boolean; workspace?: string }) => {
      const loaded = loadOpsContext(opts, io);
      let report: HealthReport;
      if (!loaded.ok) {
        // The configuration itself is broken: that alone is critical.
        report = { status: 'critical', checks: [{ name: 'config', status: 'critical', message: loaded.message }] };
      } else {
        const ctx = loaded.ctx;
        const { remote, remoteError } = await remoteForHealth(ctx.loaded, io.env, io.cwd);
        try {
          const workspace = path.resolve(io.cwd, opts.workspace ?? '.');
          report = await checkHealth({ cacheDir: ctx.cacheDir, config: ctx.loaded.config, workspace, ...(remote ? { remote } : {}), ...(remoteError ? { remoteError } : {}) });
        } finally {
          await remote?.close();
          await ctx.close();
        }
      }
      io.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : formatHealth(report));
      done(healthExitCode(report.status));
    });
}
