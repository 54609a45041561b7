import { setMaxListeners } from 'node:events';
import path from 'node:path';
// The engine: the build and its parts.
import { warmUpForColdWorkspace } from '../../cache/lazy-remote.js';
import type { RemoteTier } from '../../cache/tiered-cache.js';
import type { CodecName } from '../../cas/codec.js';
import { EventBus } from '../../events/bus.js';
import { eventTime } from '../../events/events.js';
import { runBuild, type FsyncMode } from '../../exec/build.js';
import { checkReproAfterRun, RunKeyCollector } from '../../exec/check-repro.js';
import type { StrictMode } from '../../exec/hermeticity.js';
import { planBuild } from '../../exec/plan.js';
import { ProcessGroups, signalExitCode } from '../../exec/process-runner.js';
import { chooseSpawner } from '../../exec/spawn-select.js';
import { renderAscii, type TaskStatusSymbol } from '../../graph/render.js';
import { LockBusyError, lockWorkspace } from '../../ops/lock.js';
import type { OutputMode } from '../../report/human-lines.js';
import { stampDigest } from '../../state/up-to-date-stamp.js';
import { loadWorkspaceState } from '../../state/workspace-state.js';
// The command's wiring: configuration, workspace, remote cache, side channels, signals.
import type { LoadedConfig } from '../../config/load.js';
import type { Logger } from '../../log/logger.js';
import { loadCliConfig, type ConfigFlags } from '../cli-config.js';
import { openWorkspace } from '../open-workspace.js';
import { VERSION } from '../version.js';
import { busSink, flushUploads, openRemoteStore, remoteTierFactory, resolveRemote, type RemoteMode } from '../remote-options.js';
import { attachAuditAndNotify, auditManifestRejection } from '../run-audit-notify.js';
import { afterRunMaintenance } from '../run-maintenance.js';
import { subscribePushgateway, subscribeReporters } from '../run-reporters.js';
import { resolveRunSettings } from '../run-settings.js';
import { trapInterrupts } from '../run-signals.js';

/** Options of the default command (`reprovm [options] <manifest> [targets...]`) as commander parses them. */
export interface RunOptions extends ConfigFlags {
  jobs?: number;
  force?: boolean;
  dryRun?: boolean;
  keepGoing?: boolean;
  cacheDir?: string;
  /** Unset flags with a configuration key are undefined; run-settings.ts resolves them. */
  compress?: CodecName;
  fsync?: FsyncMode;
  compressLevel?: number;
  rate?: number;
  burst?: number;
  timeout?: number;
  killGrace?: number;
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
  strict?: StrictMode | 'off';
  /** `--check-repro RATE`: re-execute this fraction of the run's cache hits afterwards. */
  checkRepro?: number;
  /** `--metrics FILE`: the run's metrics as JSON when it ends (metrics-file-reporter.ts). */
  metrics?: string;
  /** `--pushgateway URL`: push the run's metrics there when it ends. */
  pushgateway?: string;
  /** `--remote URL`, `--remote-endpoint URL`, `--remote-mode rw|ro|off`, `--require-signature` (remote-options.ts). */
  remote?: string;
  remoteEndpoint?: string;
  remoteMode?: RemoteMode;
  requireSignature?: boolean;
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
  const configWorkspace = path.dirname(path.resolve(manifestFile));
  const { loaded, logger } = loadCliConfig(opts, io, configWorkspace);
  try {
    return await runWithConfig(manifestFile, targets, opts, io, { loaded, logger, configWorkspace });
  } finally {
    logger.close();
  }
}

/** {@link runCommandLine} once the configuration and the diagnostics logger are set up. */
async function runWithConfig(
  manifestFile: string,
  targets: string[],
  opts: RunOptions,
  io: CliIo,
  { loaded, logger, configWorkspace }: { loaded: LoadedConfig; logger: Logger; configWorkspace: string },
): Promise<number> {
  const settings = resolveRunSettings(opts, loaded.config, { cpus: io.cpus, cwd: process.cwd(), workspace: configWorkspace });
  const { color, style, graph, selected, workspace, cacheDir, digest } = await openWorkspace(manifestFile, targets, { ...opts, cacheDir: settings.cacheDir }, io).catch(async (error: unknown) => {
    await auditManifestRejection(error, manifestFile, { loaded, cacheDir: settings.cacheDir, env: io.env, logger }); // security.path-escape
    throw error;
  });

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

  const jobs = settings.jobs;
  const bus = new EventBus();
  await subscribeReporters(bus, opts, { style, jobs, stdout: io.stdout, stderr: io.stderr });
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
  // The remote cache: resolved before the lock, so a usage error costs nothing; the SDK loads only when one is set.
  const remoteSettings = resolveRemote(opts, loaded, io.env);
  // Audit log and webhooks: subscribed before the lock so that breaking a stale one is recorded.
  const sideChannels = attachAuditAndNotify(bus, { loaded, cacheDir, graph, env: io.env, logger });
  await subscribePushgateway(bus, opts.pushgateway, { loaded, workspace, logger });
  let remoteTier: RemoteTier | undefined;
  // Failed attempts that will be retried count toward the breaker too (a dead remote opens it fast).
  const remoteStore = remoteSettings ? await openRemoteStore(remoteSettings, io.env, (e) => remoteTier?.noteRetry(e)) : undefined;
  if (remoteStore) warmUpForColdWorkspace(remoteStore, workspace); // a first run here: load the SDK while the lock is taken
  // posix_spawn addon when it is built (REPROVM_SPAWNER=node|native|auto; see README Performance).
  const spawnChoice = chooseSpawner(io.env['REPROVM_SPAWNER']);
  if (spawnChoice.warning) logger.warn(spawnChoice.warning);
  const groups = new ProcessGroups(spawnChoice.spawner);
  const interrupts = trapInterrupts(interrupt, groups, io.stderr);

  let lock;
  try {
    lock = await lockWorkspace(workspace, {
      wait: opts.wait,
      signal: interrupt.signal,
      onWait: (owner) => logger.info(`waiting for another run in this workspace${owner ? ` (pid ${owner.pid} on ${owner.host})` : ''} to finish...`),
      onStaleBroken: (owner) => {
        sideChannels.audit?.append('lock.stale-broken', { workspace, pid: owner.pid, host: owner.host, since: owner.startedAt });
        logger.warn(`removed a stale workspace lock left by pid ${owner.pid}`);
      },
      onCompromised: (e) => logger.warn(`the workspace lock was lost: ${e.message}`),
    });
  } catch (error) {
    if (error instanceof LockBusyError) {
      io.stderr.write(`reprovm: error: ${error.message}${opts.wait ? '' : ' (--no-wait)'}\n`);
      interrupts.release();
      return interrupts.signal ? signalExitCode(interrupts.signal) : EXIT_USAGE;
    }
    throw error;
  }
  sideChannels.audit?.append('lock.acquired', { workspace });
  try {
    const outcome = await runBuild({
      workspace,
      graph,
      selected,
      cacheDir,
      jobs,
      rate: settings.rate,
      burst: settings.burst,
      force: opts.force === true,
      keepGoing: settings.keepGoing,
      defaultTimeoutMs: settings.timeoutMs,
      killGraceMs: settings.killGraceMs,
      retryBaseMs: Number(io.env.REPROVM_RETRY_BACKOFF_MS ?? 1000),
      defaultRetries: settings.defaultRetries,
      fsync: settings.fsync,
      compression: settings.compression,
      inlineMaxBytes: settings.inlineMaxBytes,
      directIo: settings.directIo,
      env: io.env,
      interrupt: interrupt.signal,
      groups,
      bus,
      liveOutput: opts.json === true || opts.quiet !== true,
      explain: opts.explain === true,
      ...(settings.strict ? { strict: settings.strict } : {}),
      upToDateDigest: stampDigest({ graphDigest: digest, targets, version: VERSION }),
      ...(remoteSettings && remoteStore
        ? { remote: remoteTierFactory(remoteSettings, remoteStore, busSink(bus), interrupt.signal, (t) => (remoteTier = t)) }
        : {}),
    });
    // Pending uploads finish before the run ends (an interrupted run drops what has not started).
    if (remoteTier && !interrupts.signal) await flushUploads(remoteTier, io.stderr);
    const summary = remoteTier ? { ...outcome.summary, remote: remoteTier.totals } : outcome.summary;
    let exitCode = interrupts.signal ? signalExitCode(interrupts.signal) : outcome.failed ? EXIT_TASK_FAILED : EXIT_OK;
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
        killGraceMs: settings.killGraceMs,
        defaultTimeoutMs: settings.timeoutMs,
        interrupt: interrupt.signal,
        groups,
      });
      if (interrupts.signal) exitCode = signalExitCode(interrupts.signal);
      else if (checked.notReproducible > 0) {
        exitCode = EXIT_TASK_FAILED;
        if (!opts.json) io.stderr.write(`reprovm: error: --check-repro: ${checked.notReproducible} of ${checked.checked} re-executed cache hits did not reproduce\n`);
      }
    }
    bus.emit({ type: 'run-finished', time: eventTime(), runId: outcome.runId, exitCode, summary });
    await bus.close();
    // Run history, automatic gc and backup: still inside the workspace lock, never failing the run.
    await afterRunMaintenance({ cacheDir, workspace, loaded, summary: outcome.summary, exitCode, audit: sideChannels.audit, env: io.env, logger });
    return exitCode;
  } finally {
    await sideChannels.close();
    await remoteStore?.close().catch(() => undefined);
    await lock.release();
    interrupts.release();
  }
}
