import { setMaxListeners } from 'node:events';
import path from 'node:path';
import type { CodecName } from '../../cas/codec.js';
import { EventBus, type Reporter } from '../../events/bus.js';
import { eventTime } from '../../events/events.js';
import { runBuild, type FsyncMode } from '../../exec/build.js';
import { checkReproAfterRun, RunKeyCollector } from '../../exec/check-repro.js';
import type { StrictMode } from '../../exec/hermeticity.js';
import { planBuild } from '../../exec/plan.js';
import { ProcessGroups, signalExitCode } from '../../exec/process-runner.js';
import { renderAscii, type TaskStatusSymbol } from '../../graph/render.js';
import { LockBusyError, lockWorkspace } from '../../ops/lock.js';
import type { OutputMode } from '../../report/human-lines.js';
import { JsonReporter } from '../../report/json-reporter.js';
import { JunitReporter } from '../../report/junit-reporter.js';
import { PlainReporter } from '../../report/plain-reporter.js';
import { ProfileReporter } from '../../report/profile-reporter.js';
import { RunSummaryReporter } from '../../report/run-summary-reporter.js';
import { loadWorkspaceState } from '../../state/workspace-state.js';
import { openWorkspace } from '../open-workspace.js';
import { VERSION } from '../version.js';

/** Options of the default command (`reprovm [options] <manifest> [targets...]`) as commander parses them. */
export interface RunOptions {
  jobs?: number;
  force?: boolean;
  dryRun?: boolean;
  keepGoing?: boolean;
  cacheDir?: string;
  compress: CodecName;
  fsync: FsyncMode;
  compressLevel?: number;
  rate: number;
  burst?: number;
  timeout?: number;
  killGrace: number;
  listTasks?: boolean;
  graph?: boolean;
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
  color: boolean;
  progress: boolean;
  outputMode: OutputMode;
  wait: boolean;
  allowAbsoluteInputs?: boolean;
  /** Report files written when the run ends (not with --dry-run). */
  summary?: string;
  junit?: string;
  profile?: string;
  explain?: boolean;
  /** `--strict[=warn|error]`: the hermeticity check (a bare `--strict` arrives as `warn`). */
  strict?: StrictMode;
  /** `--check-repro RATE`: re-execute this fraction of the run's cache hits afterwards. */
  checkRepro?: number;
}

export interface CliIo {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly cpus: number;
}

const EXIT_OK = 0;
const EXIT_TASK_FAILED = 1;
const EXIT_USAGE = 2;

/** The main job: load the manifest, take the workspace lock, run (or plan) the build. Returns the exit code. */
export async function runCommandLine(manifestFile: string, targets: string[], opts: RunOptions, io: CliIo): Promise<number> {
  const { color, style, graph, selected, workspace, cacheDir } = await openWorkspace(manifestFile, targets, opts, io);

  if (opts.listTasks) {
    for (const name of graph.order) {
      const spec = graph.nodes.get(name)!.spec;
      io.stdout.write(spec.description ? `${name}\t${spec.description}\n` : `${name}\n`);
    }
    return EXIT_OK;
  }
  if (opts.graph) {
    const state = loadWorkspaceState(workspace);
    const symbol = (n: string): TaskStatusSymbol => {
      const last = state.lastStatus[n];
      return last === 'executed' ? 'done' : last === 'cached' ? 'cached' : last === 'failed' ? 'failed' : last === 'skipped' ? 'skipped' : 'pending';
    };
    io.stdout.write(`${renderAscii(graph, selected, symbol, { color })}\n`);
    return EXIT_OK;
  }

  const jobs = opts.jobs ?? io.cpus;
  const bus = new EventBus();
  const human = { style, verbose: opts.verbose === true, quiet: opts.quiet === true, outputMode: opts.outputMode, jobs };
  let reporter: Reporter;
  if (opts.json) reporter = new JsonReporter(io.stdout);
  else if (opts.progress && !opts.quiet && !opts.dryRun && io.stdout.isTTY === true) {
    const { TtyReporter } = await import('../../report/tty-reporter.js');
    reporter = new TtyReporter(human, io.stdout);
  } else reporter = new PlainReporter(human, io.stdout, io.stderr);
  bus.subscribe(reporter);
  if (opts.summary !== undefined) bus.subscribe(new RunSummaryReporter(path.resolve(opts.summary), { version: VERSION }));
  if (opts.junit !== undefined) bus.subscribe(new JunitReporter(path.resolve(opts.junit)));
  if (opts.profile !== undefined) bus.subscribe(new ProfileReporter(path.resolve(opts.profile)));
  const runKeys = opts.checkRepro !== undefined ? new RunKeyCollector() : undefined;
  if (runKeys) bus.subscribe(runKeys);
  if (opts.verbose && !opts.json) {
    for (const e of graph.edges) {
      if (e.kind === 'inferred') io.stderr.write(style.dim(`reprovm: "${e.from}" depends on "${e.to}" (inferred: it reads "${e.via}")\n`));
    }
  }

  if (opts.dryRun) {
    const counts = await planBuild({ workspace, graph, selected, cacheDir, force: opts.force === true, env: io.env, bus });
    if (!opts.json) io.stdout.write(`reprovm: dry run: ${counts.run} would run, ${counts.restore} would be restored, ${counts.upToDate} up to date\n`);
    return EXIT_OK;
  }

  const interrupt = new AbortController();
  setMaxListeners(0, interrupt.signal); // one listener per running or waiting task
  const groups = new ProcessGroups();
  let interruptSignal: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interruptSignal) {
      // Second signal: no more grace.
      groups.killAll('SIGKILL');
      io.stderr.write('reprovm: killed\n');
      process.exit(signalExitCode(interruptSignal));
    }
    interruptSignal = signal;
    io.stderr.write(`reprovm: ${signal === 'SIGINT' ? 'interrupted' : `received ${signal}`}: stopping running tasks (again to kill them at once)\n`);
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let lock;
  try {
    lock = await lockWorkspace(workspace, {
      wait: opts.wait,
      signal: interrupt.signal,
      onWait: (owner) =>
        io.stderr.write(`reprovm: waiting for another run in this workspace${owner ? ` (pid ${owner.pid} on ${owner.host})` : ''} to finish...\n`),
      onStaleBroken: (owner) => io.stderr.write(`reprovm: removed a stale workspace lock left by pid ${owner.pid}\n`),
      onCompromised: (e) => io.stderr.write(`reprovm: warning: the workspace lock was lost: ${e.message}\n`),
    });
  } catch (error) {
    if (error instanceof LockBusyError) {
      io.stderr.write(`reprovm: error: ${error.message}${opts.wait ? '' : ' (--no-wait)'}\n`);
      return interruptSignal ? signalExitCode(interruptSignal) : EXIT_USAGE;
    }
    throw error;
  }
  try {
    const outcome = await runBuild({
      workspace,
      graph,
      selected,
      cacheDir,
      jobs,
      rate: opts.rate,
      burst: opts.burst ?? Math.max(1, jobs),
      force: opts.force === true,
      keepGoing: opts.keepGoing === true,
      defaultTimeoutMs: opts.timeout,
      killGraceMs: opts.killGrace,
      retryBaseMs: Number(io.env.REPROVM_RETRY_BACKOFF_MS ?? 1000),
      fsync: opts.fsync,
      compression: { codec: opts.compress, level: opts.compressLevel ?? (opts.compress === 'zstd' ? 3 : 0) },
      env: io.env,
      interrupt: interrupt.signal,
      groups,
      bus,
      liveOutput: opts.json === true || opts.quiet !== true,
      explain: opts.explain === true,
      ...(opts.strict ? { strict: opts.strict } : {}),
    });
    let exitCode = interruptSignal ? signalExitCode(interruptSignal) : outcome.failed ? EXIT_TASK_FAILED : EXIT_OK;
    if (runKeys && opts.checkRepro !== undefined && exitCode === EXIT_OK) {
      // A cache hit that does not reproduce is reported as a warning and fails the run.
      const checked = await checkReproAfterRun({
        graph,
        workspace,
        cacheDir,
        env: io.env,
        jobs,
        rate: opts.checkRepro,
        collected: runKeys,
        bus,
        killGraceMs: opts.killGrace,
        defaultTimeoutMs: opts.timeout,
        interrupt: interrupt.signal,
        groups,
      });
      if (interruptSignal) exitCode = signalExitCode(interruptSignal);
      else if (checked.notReproducible > 0) {
        exitCode = EXIT_TASK_FAILED;
        if (!opts.json) io.stderr.write(`reprovm: error: --check-repro: ${checked.notReproducible} of ${checked.checked} re-executed cache hits did not reproduce\n`);
      }
    }
    bus.emit({ type: 'run-finished', time: eventTime(), runId: outcome.runId, exitCode, summary: outcome.summary });
    await bus.close();
    return exitCode;
  } finally {
    await lock.release();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
