import { availableParallelism } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { explainCommandLine, type ExplainOptions } from './commands/explain.js';
import { GRAPH_FORMATS, graphCommandLine, type GraphOptions } from './commands/graph.js';
import { rewriteLegacyOpsFlags } from './legacy-ops-flags.js';
import { configCheckCommandLine, configShowCommandLine, type ConfigShowOptions } from './commands/config.js';
import { configErrorLines, withConfigOptions, withConfiguredCacheDir, type ConfigFlags } from './cli-config.js';
import { ConfigError } from '../config/load.js';
import { runCommandLine, type RunOptions } from './commands/run.js';
import { verifyReproCommandLine, type VerifyReproOptions } from './commands/verify-repro.js';
import { OPS_COMMAND_NAMES } from './command-names.js';
import { inheritGlobalOptions } from './global-options.js';
import { UsageError } from './load-manifest.js';
import { duration, fraction, nonNegativeInt, positiveInt, rate } from './parse-option.js';
import { VERSION } from './version.js';

/** Adds the options of a build run to the default command and to `run`. */
function withRunOptions(cmd: Command): Command {
  return withConfigOptions(cmd)
    .argument('<manifest>', 'manifest file; its directory is the workspace')
    .argument('[targets...]', 'tasks to build (with their dependencies); default: all')
    .option('-j, --jobs <n>', 'commands running at once (default: number of CPUs)', positiveInt)
    .option('-f, --force', 'run every task even if cached (results are still stored)')
    .option('-n, --dry-run', 'print what would run, be restored or is up to date, and why; run nothing')
    .option('--explain', 'say beside every task that executes why it missed the cache (e.g. "input a.c changed")')
    .addOption(
      new Option('--strict <mode>', 'hermeticity check: report (warn) or fail (error) tasks that write undeclared paths; bare --strict = warn; off overrides [execution] strict')
        .choices(['warn', 'error', 'off']),
    )
    .option('-k, --keep-going', 'after a failure, keep running everything not downstream of it')
    .option('--no-keep-going', 'stop starting tasks after a failure (overrides [execution] keep_going)')
    .option('--cache-dir <dir>', 'cache directory (default: <workspace>/.reprovm)')
    .addOption(new Option('--compress <codec>', 'compression of new cache objects').choices(['zstd', 'lz4', 'none']))
    .addOption(
      new Option('--fsync <mode>', 'cache durability: fsync every write, one flush per run, or none')
        .choices(['always', 'batch', 'off']),
    )
    .option('--compress-level <n>', 'compression level (zstd 1-19, default 3)', nonNegativeInt)
    .option('--rate <n>', 'task starts per second (token bucket; "inf" = no limit)', rate)
    .option('--burst <n>', 'token bucket size: starts allowed at once (default: --jobs)', positiveInt)
    .option('--timeout <duration>', 'default per-task timeout, e.g. 90s, 10m (a task\'s own timeout wins)', duration)
    .option('--kill-grace <duration>', 'time between SIGTERM and SIGKILL when stopping a task (default 5s)', duration)
    .option('--list-tasks', 'list the manifest\'s tasks and exit')
    .option('--graph', 'print the task graph with the last run\'s status and exit')
    .option('--json', 'write run events as NDJSON on stdout (for programs)')
    .option('-v, --verbose', 'more detail: inferred dependencies, cache keys, miss reasons, up-to-date tasks')
    .option('-q, --quiet', 'only failures and the summary; no cache-hit output replay')
    .option('--no-color', 'no ANSI colours (NO_COLOR is honoured too)')
    .option('--no-progress', 'no progress bar, even on a terminal')
    .addOption(
      new Option('--output-mode <mode>', 'live task output: prefixed lines, or grouped per task when it finishes')
        .choices(['prefixed', 'grouped'])
        .default('prefixed'),
    )
    .option('--no-wait', 'fail at once if another run holds the workspace lock')
    .option('--allow-absolute-inputs', 'accept absolute input paths (never outputs)')
    .addOption(new Option('--summary <file>', 'write a JSON run summary (schemas/run-summary.schema.json) when the run ends').conflicts('dryRun'))
    .addOption(new Option('--junit <file>', 'write a JUnit XML report (one test case per task) when the run ends').conflicts('dryRun'))
    .addOption(new Option('--profile <file>', 'write a Chrome trace of the run (chrome://tracing, Perfetto)').conflicts('dryRun'))
    .option('--remote <url>', 'shared remote cache: s3://bucket/prefix, gs://bucket/prefix, azblob://container/prefix or a directory (REPROVM_REMOTE)')
    .option('--remote-endpoint <url>', 'custom endpoint of the remote (MinIO, R2, Ceph, an emulator) (REPROVM_REMOTE_ENDPOINT)')
    .addOption(new Option('--remote-mode <mode>', 'rw: read and write the remote; ro: only read (laptops); off: ignore it').choices(['rw', 'ro', 'off']))
    .option('--require-signature', 'refuse remote action records not signed with REPROVM_CACHE_SIGNING_KEY')
    .addOption(
      new Option('--check-repro <rate>', 'after a successful run, re-execute this fraction (0-1] of the cache hits and warn (exit 1) if one does not reproduce')
        .argParser(fraction)
        .conflicts('dryRun'),
    )
    .addOption(new Option('--pushgateway <url>', 'push the run\'s Prometheus metrics to this Pushgateway when it ends (a failed push is a warning)').conflicts('dryRun'))
    .addOption(new Option('--metrics <file>', 'write the run\'s metrics as JSON when it ends (tasks, hit rate, durations, bytes, peak memory)').conflicts('dryRun'))
    .option('--health-check', 'run the health checks and exit (as reprovm health)')
    .option('--clean-cache', 'remove every cached object and record and exit (as reprovm cache clean)')
    .option('--verify-cache', 'verify the cache and exit (as reprovm cache verify)')
    .option('--stats', 'print cache statistics and exit (as reprovm cache stats)');
}

/**
 * A bare `--strict` means `--strict=warn`. An optional option value would swallow the next word
 * (`--strict manifest.txt`), so the bare flag is rewritten before commander parses.
 */
function bareStrictIsWarn(argv: readonly string[]): string[] {
  const end = argv.indexOf('--');
  return argv.map((a, i) => (a === '--strict' && (end < 0 || i < end) ? '--strict=warn' : a));
}

/** Options shared by the commands that read a workspace without building it. */
function withReadOptions(cmd: Command): Command {
  return withConfigOptions(cmd)
    .option('--cache-dir <dir>', 'cache directory (default: [cache] cache_dir, else <workspace>/.reprovm)')
    .option('--allow-absolute-inputs', 'accept absolute input paths (never outputs)')
    .option('--no-color', 'no ANSI colours (NO_COLOR is honoured too)');
}

const OPS_COMMANDS = new Set<string>([...OPS_COMMAND_NAMES, 'help', '--help', '-h']);

/** True when argv may name an operations subcommand or asks for help (then every command is registered). */
function mayNameOpsCommand(argv: readonly string[]): boolean {
  const words = argv.slice(2);
  return words.length === 0 || words.some((w) => OPS_COMMANDS.has(w));
}

async function main(argv: string[]): Promise<number> {
  // The AWS SDK reads this from the process environment when an S3 client is created; without it
  // every command that talks to S3 on Node 20 prints a NodeVersionSupportWarning to users.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const io = { env: process.env, stdout: process.stdout, stderr: process.stderr, cpus: availableParallelism() };
  let exitCode = 0;
  const program = new Command('reprovm')
    .description('Reproducible task runner with a content-addressed cache')
    .version(VERSION, '-V, --version')
    .enablePositionalOptions()
    .showSuggestionAfterError()
    .exitOverride()
    // `reprovm --config FILE run ...`, `reprovm --config FILE cache stats`: options given before
    // a subcommand apply to it (its own flags win).
    .hook('preAction', (_program, actionCommand) => inheritGlobalOptions(actionCommand));
  const action = async (manifest: string, targets: string[], _opts: RunOptions, cmd: Command): Promise<void> => {
    exitCode = await runCommandLine(manifest, targets, cmd.opts<RunOptions>(), io);
  };
  withRunOptions(program).action(action);
  withRunOptions(program.command('run').description('run a manifest (the same as the default command)')).action(action);
  const config = program.command('config').description('show or check the effective configuration (reprovm.conf, REPROVM_* environment)');
  withConfigOptions(config.command('show'))
    .description('print the effective configuration with the source of every value; secrets redacted')
    .argument('[manifest]', 'manifest (or directory) whose workspace configuration is looked up (default: the current directory)')
    .option('--json', 'print it as JSON')
    .action((manifest: string | undefined, _opts: ConfigShowOptions, cmd: Command) => {
      exitCode = configShowCommandLine(manifest, cmd.opts<ConfigShowOptions>(), { ...io, cwd: process.cwd() });
    });
  withConfigOptions(config.command('check'))
    .description('validate the configuration: exit 0 when valid (warnings printed), 2 on errors')
    .argument('[manifest]', 'manifest (or directory) whose workspace configuration is looked up (default: the current directory)')
    .action((manifest: string | undefined, _opts: ConfigFlags, cmd: Command) => {
      exitCode = configCheckCommandLine(manifest, cmd.opts<ConfigFlags>(), { ...io, cwd: process.cwd() });
    });
  const setExit = (code: number): void => {
    exitCode = code;
  };
  withReadOptions(program
    .command('explain'))
    .description('say for each task whether it would run, be restored or is up to date, and exactly why; runs and writes nothing')
    .argument('<manifest>', 'manifest file; its directory is the workspace')
    .argument('[tasks...]', 'tasks to explain (default: all)')
    .option('--json', 'one JSON object per task: {task, action, key, reasons}')
    .action(async (manifest: string, tasks: string[], _opts: ExplainOptions, cmd: Command) => {
      exitCode = await explainCommandLine(manifest, tasks, withConfiguredCacheDir(manifest, cmd.opts<ExplainOptions & ConfigFlags>(), io), io);
    });
  withReadOptions(program
    .command('verify-repro'))
    .description('execute cached tasks again in scratch directories and check that they reproduce their cached outputs')
    .argument('<manifest>', 'manifest file; its directory is the workspace')
    .argument('[tasks...]', 'tasks to check (default: all cached tasks)')
    .option('--runs <n>', 'executions per task (to catch flaky nondeterminism)', positiveInt, 1)
    .option('-j, --jobs <n>', 'tasks checked at once (default: [execution] parallel_jobs, else number of CPUs)', positiveInt)
    .option('--json', 'one JSON object per task: {task, status, differences, ...}')
    .action(async (manifest: string, tasks: string[], _opts: VerifyReproOptions, cmd: Command) => {
      exitCode = await verifyReproCommandLine(manifest, tasks, withConfiguredCacheDir(manifest, cmd.opts<VerifyReproOptions & ConfigFlags>(), io, { jobs: true }), io);
    });
  withConfigOptions(program
    .command('graph'))
    .description('print the task graph with the last run\'s statuses, inferred edges marked')
    .argument('<manifest>', 'manifest file; its directory is the workspace')
    .argument('[targets...]', 'tasks to show (with their dependencies); default: all')
    .addOption(new Option('--format <format>', 'output format').choices(GRAPH_FORMATS).default('ascii'))
    .option('--allow-absolute-inputs', 'accept absolute input paths (never outputs)')
    .option('--no-color', 'no ANSI colours in the ascii tree (NO_COLOR is honoured too)')
    .action(async (manifest: string, targets: string[], opts: GraphOptions) => {
      exitCode = await graphCommandLine(manifest, targets, opts, io);
    });
  try {
    // The operations commands (cache, health, backup, audit, notify, serve) are loaded only when
    // the command line may name one (or asks for help): a build never pays for compiling them.
    // The original's flags (--stats, --health-check, ...) become subcommands first.
    const args = bareStrictIsWarn(rewriteLegacyOpsFlags(argv, process.cwd(), io.env));
    if (mayNameOpsCommand(args)) {
      const { registerOpsCommands } = await import('./ops-commands.js');
      registerOpsCommands(program, { ...io, cwd: process.cwd() }, setExit);
    }
    await program.parseAsync(args);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof ConfigError) {
      process.stderr.write(configErrorLines(error));
      return 2;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    process.stderr.write(`reprovm: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 70;
  }
  return exitCode;
}

process.exitCode = await main(process.argv);
// Leftover handles (timers of cancelled work) must not keep a finished run alive.
process.exit();
