/**
 * `reprovm serve`: wires the pieces together and runs them. Loads the configuration, the
 * tokens and the served workspaces, takes the daemon lock of every cache directory
 * (server-lock.ts; a second daemon exits 2), recovers the run history (runs left in flight
 * become aborted), starts the scheduler and the HTTP app, and offers a graceful `close()` (stop
 * accepting, cancel queued runs, SIGTERM running children and wait for them) and `reload()`
 * (SIGHUP: configuration, tokens, limits and schedules; queued runs stay queued).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Reporter } from '../events/bus.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { REDACTED, redactSecrets } from '../config/redact.js';
import { openAuditLog } from '../ops/audit-log.js';
import { createMetrics } from '../report/metrics-reporter.js';
import { buildApp } from './app.js';
import type { Reloadable, ServerContext } from './context.js';
import { HealthRemoteHolder } from './health-remote.js';
import { scanCasStats } from './metrics-exporter.js';
import { RunManager, type RunLimits } from './run-manager.js';
import type { RunInfo } from './run-record.js';
import { ScheduleError, Scheduler, systemClock } from './schedule.js';
import { loadSpec } from './spec.js';
import { ApiError } from './api-error.js';
import { checkTargets, ManifestCache } from './task-view.js';
import { TokenSourceError } from './auth.js';
import { isLoopback, loadTokens } from './tokens.js';
import { resolveWorkspaces, WorkspaceError, type ServedWorkspace } from './workspaces.js';
import { lockServers, ServerLockBusyError } from './server-lock.js';

/** What `serve` was given (flags win over the configuration). */
export interface ServeOptions {
  readonly manifests: readonly string[];
  readonly host?: string;
  readonly port?: number;
  readonly token?: string;
  readonly configFile?: string;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** node and the CLI entry, to start run children. */
  readonly node: string;
  readonly cli: string;
  /** Diagnostics (warnings, schedule log lines). */
  readonly log: (line: string) => void;
}

/** A listening server. */
export interface RunningServer {
  readonly url: string;
  /** Reloads the configuration; returns an error message when the new one is rejected (the old stays). */
  reload(): string | undefined;
  close(): Promise<void>;
}

/** A startup problem, printed as-is (exit 2). */
export class ServeError extends Error {
  override readonly name = 'ServeError';
}

function limitsOf(loaded: LoadedConfig): RunLimits {
  const s = loaded.config.server;
  return { maxQueue: s.max_queue, runConcurrency: s.run_concurrency, historyLimit: s.history_limit };
}

/** Starts the server; resolves when it listens. */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const firstManifest = opts.manifests[0];
  const load = (): LoadedConfig =>
    loadConfig({
      ...(opts.configFile ? { explicitFile: opts.configFile } : {}),
      env: opts.env,
      workspace: firstManifest ? path.dirname(path.resolve(opts.cwd, firstManifest)) : opts.cwd,
    });
  const loaded = load();
  const startConfig = loaded.config;
  for (const w of loaded.warnings) opts.log(`reprovm: warning: ${w}`);
  const baseDir = loaded.file ? path.dirname(loaded.file) : opts.cwd;
  const host = opts.host ?? loaded.config.server.host;
  const port = opts.port ?? loaded.config.server.port;
  const workspaces = resolveWorkspaces({
    entries: loaded.config.server.workspaces,
    manifests: opts.manifests,
    cwd: opts.cwd,
    baseDir,
    cacheDir: loaded.config.cache.cache_dir,
  });
  const envToken = opts.env.REPROVM_SERVER_TOKEN;
  const reloadable = (l: LoadedConfig): Reloadable => {
    const tokens = loadTokens({ config: l.config, baseDir: l.file ? path.dirname(l.file) : opts.cwd, ...(envToken ? { envToken } : {}), ...(opts.token ? { flagToken: opts.token } : {}) });
    if (tokens.size === 0 && !isLoopback(host)) {
      throw new ServeError(`reprovm: error: serve: no API token is configured, so serving on ${host} would give everyone full access; add a [token.NAME] section, a token_file, REPROVM_SERVER_TOKEN or --token`);
    }
    return { config: l.config, configFile: l.file, tokens, authDisabled: tokens.size === 0 };
  };
  let current = startupStep(() => reloadable(loaded));
  if (current.authDisabled) opts.log(`reprovm: warning: serve: no API token is configured: requests from this machine may only read; runs, cancels and cache maintenance are refused until a token is configured (bound to ${host})`);

  // Before the run history is recovered: a second daemon must not abort the first one's runs.
  const serverLock = await lockServers(
    workspaces.map((w) => w.cacheDir),
    (m) => opts.log(`reprovm: warning: serve: ${m}`),
  ).catch((error: unknown) => {
    if (error instanceof ServerLockBusyError) throw new ServeError(`reprovm: error: serve: ${error.message}`);
    throw error;
  });
  // Runs are counted when the run manager ends them, with the API's status (see onFinished).
  const metrics = createMetrics({ runsFromEvents: false });
  const reporters = new Map<string, Reporter>();
  const audit = openAuditLog(loaded.config, workspaces[0]!.cacheDir, { extraSecrets: [envToken, opts.token].filter((t): t is string => !!t) });
  const childEnv = { ...opts.env };
  delete childEnv.REPROVM_SERVER_TOKEN;
  // A run that failed or could not finish is a warning (the logger keeps it at --log-level warning).
  const logFinished = (run: RunInfo): void => opts.log(`reprovm: ${run.status === 'failed' || run.status === 'aborted' ? 'warning: ' : ''}run ${run.id} (workspace ${run.workspace}, ${run.trigger}): ${run.status}${run.message ? `: ${run.message}` : ''}`);
  const runs = new RunManager({
    workspaces,
    limits: limitsOf(loaded),
    node: opts.node,
    cli: opts.cli,
    ...(loaded.file ? { configFile: loaded.file } : {}),
    env: childEnv,
    onEvent: (ws, event) => {
      let r = reporters.get(ws);
      if (!r) reporters.set(ws, (r = metrics.reporter(ws)));
      r.onEvent(event);
    },
    onQueueDepth: (ws, n) => metrics.setQueueDepth(ws, n),
    warn: opts.log,
    redact: (text) => {
      let out = redactSecrets(text, current.config);
      for (const t of [envToken, opts.token]) if (t) out = out.split(t).join(REDACTED);
      return out;
    },
    onFinished: (run) => {
      // A run that never started (cancelled while queued) took no time.
      const from = run.startedAt === null ? NaN : Date.parse(run.startedAt);
      const seconds = run.finishedAt === null || Number.isNaN(from) ? 0 : Math.max(0, (Date.parse(run.finishedAt) - from) / 1000);
      metrics.recordRun(run.workspace, run.status, seconds);
      logFinished(run);
    },
  });
  for (const ws of workspaces) metrics.setQueueDepth(ws.name, 0);

  const manifests = new ManifestCache();
  const makeScheduler = (l: LoadedConfig): Scheduler => {
    for (const e of l.config.schedule) {
      const ws = e.workspace === '' ? workspaces[0] : workspaces.find((w) => w.name === e.workspace);
      if (!ws) throw new ServeError(`reprovm: error: [schedule.${e.name}]: workspace "${e.workspace}" is not served (served: ${workspaces.map((w) => w.name).join(', ')})`);
      try {
        checkTargets(manifests.graph(ws), e.targets);
      } catch (error) {
        // An unreadable manifest is the run's problem (it fails with the diagnostic); a wrong name is the entry's.
        if (error instanceof ApiError && error.code === 'unknown-target') throw new ServeError(`reprovm: error: [schedule.${e.name}]: ${error.message}`);
      }
    }
    return new Scheduler({
      entries: l.config.schedule,
      clock: systemClock,
      stateFile: path.join(workspaces[0]!.cacheDir, 'schedule-state.json'),
      trigger: async (entry) => {
        const ws = entry.workspace === '' ? workspaces[0]!.name : entry.workspace;
        const run = runs.enqueue(ws, { targets: [...entry.targets], force: entry.force, jobs: null, keepGoing: false }, `schedule:${entry.name}`);
        return { done: runs.whenFinished(run.id) };
      },
      log: (m) => opts.log(`reprovm: ${m}`),
    });
  };
  let scheduler = startupStep(() => makeScheduler(loaded));

  let casCheckedAt = 0;
  // The configuration health checks open the remote from (replaced on reload).
  let loadedNow = loaded;
  const healthRemote = new HealthRemoteHolder(opts.env, opts.cwd);
  const ctx: ServerContext = {
    workspaces,
    runs,
    manifests,
    env: childEnv,
    audit,
    metrics,
    current: () => current,
    schedules: () => scheduler.list(),
    refreshMetrics: async () => {
      if (Date.now() - casCheckedAt < 5000) return;
      casCheckedAt = Date.now();
      const sums = { objects: 0, bytes: 0 };
      for (const dir of new Set(workspaces.map((w) => w.cacheDir))) {
        const s = await scanCasStats(dir).catch(() => ({ objects: 0, bytes: 0 }));
        sums.objects += s.objects;
        sums.bytes += s.bytes;
      }
      metrics.setCasStats(sums);
    },
    healthRemote: () => healthRemote.get(loadedNow),
  };

  const s = loaded.config.server;
  const https = s.tls_cert !== '' && s.tls_key !== '' ? { cert: readTls(s.tls_cert, 'tls_cert', baseDir), key: readTls(s.tls_key, 'tls_key', baseDir) } : undefined;
  if ((s.tls_cert === '') !== (s.tls_key === '')) throw new ServeError('reprovm: error: [server] tls_cert and tls_key must be set together');
  const app = await buildApp(ctx, {
    spec: loadSpec(),
    bodyLimitBytes: s.max_body_kb * 1024,
    requestTimeoutMs: s.request_timeout_seconds * 1000,
    ...(https ? { https } : {}),
    logError: (m) => opts.log(`reprovm: error: ${m}`),
  });
  let address: string;
  try {
    await app.listen({ host, port });
    // Fastify cannot tell that our own server factory made an HTTPS server: build the URL here.
    const bound = app.server.address();
    const shownHost = host.includes(':') ? `[${host}]` : host;
    address = `${https ? 'https' : 'http'}://${shownHost}:${typeof bound === 'object' && bound ? bound.port : port}`;
  } catch (error) {
    await app.close().catch(() => undefined);
    await serverLock.release();
    throw new ServeError(`reprovm: error: serve: cannot listen on ${host}:${port}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  scheduler.start();

  return {
    url: address,
    reload: () => {
      try {
        const next = load();
        const nextCurrent = reloadable(next);
        const nextScheduler = makeScheduler(next);
        const old = scheduler;
        old.stop();
        scheduler = nextScheduler;
        current = nextCurrent;
        loadedNow = next;
        runs.setLimits(limitsOf(next));
        // The new scheduler takes over the old one's in-flight runs so a tick never overlaps them.
        scheduler.start(old);
        for (const w of next.warnings) opts.log(`reprovm: warning: ${w}`);
        const fixed: string[] = (['host', 'port', 'workspaces', 'tls_cert', 'tls_key', 'max_body_kb', 'request_timeout_seconds'] as const).filter(
          (k) => JSON.stringify(next.config.server[k]) !== JSON.stringify(startConfig.server[k]),
        );
        if (next.config.cache.cache_dir !== startConfig.cache.cache_dir) fixed.push('cache_dir');
        if (fixed.length > 0) opts.log(`reprovm: warning: changes to ${fixed.join(', ')} take effect only after a restart`);
        return undefined;
      } catch (error) {
        return error instanceof Error ? error.message : String(error);
      }
    },
    close: async () => {
      scheduler.stop();
      const closing = app.close();
      await runs.shutdown();
      await Promise.race([closing, new Promise((r) => setTimeout(r, 5000).unref())]);
      app.server.closeAllConnections?.();
      await scheduler.flush();
      await healthRemote.close();
      await audit?.close();
      await serverLock.release();
    },
  };
}

/** Runs a startup step; a token or schedule problem becomes a one-line {@link ServeError}. */
function startupStep<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (error instanceof TokenSourceError || error instanceof ScheduleError) throw new ServeError(`reprovm: error: serve: ${error.message}`);
    throw error;
  }
}

function readTls(file: string, key: string, baseDir: string): Buffer {
  const abs = path.resolve(baseDir, file);
  try {
    return readFileSync(abs);
  } catch (error) {
    throw new ServeError(`reprovm: error: [server] ${key}: cannot read "${abs}": ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

export { WorkspaceError, type ServedWorkspace };
