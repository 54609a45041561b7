/**
 * `reprovm serve [manifest...]`: the REST API daemon (src/server/), or with `--metrics-only`
 * the Prometheus exporter alone. The server stack (fastify, prom-client) is loaded only here,
 * by dynamic import. Signals: SIGTERM/SIGINT stop gracefully (queued runs cancelled, running
 * ones get SIGTERM and are waited for) and exit 0; SIGHUP reloads the configuration.
 */
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, loadConfig } from '../../config/load.js';
import { resolveOpsCacheDir } from '../cache-location.js';
import { withConfigOptions, type ConfigFlags } from '../cli-config.js';
import { createServeLogger, serverLogHook } from '../serve-logger.js';

/** Options of `reprovm serve` as commander parses them. */
export interface ServeCliOptions extends ConfigFlags {
  host?: string;
  port?: number;
  token?: string;
  metricsOnly?: boolean;
}

export interface ServeIo {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly cwd: string;
}

function portOption(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535 (0 = any free port)');
  return n;
}

/** Adds `serve` to the program. */
export function registerServeCommand(program: Command, io: ServeIo, setExit: (code: number) => void): void {
  withConfigOptions(program.command('serve'))
    .description('serve the REST API (openapi.yaml): tasks, queued runs with live events, cache, metrics, health')
    .argument('[manifests...]', 'manifests to serve, each a workspace named after its directory (default: [server] workspaces)')
    .option('--host <address>', 'bind address (default: [server] host, 127.0.0.1)')
    .option('--port <n>', 'port; 0 = any free port (default: [server] port, 8080)', portOption)
    .option('--token <token>', 'an API token with the admin role, at least 16 characters; visible to other users in the process list, so prefer REPROVM_SERVER_TOKEN or [server] token_file / [token.NAME]')
    .option('--metrics-only', 'serve only GET /metrics (Prometheus exporter; default port [prometheus] port)')
    .action(async (manifests: string[], opts: ServeCliOptions) => {
      setExit(await serveCommandLine(manifests, opts, io));
    });
}

/** Runs the server until SIGTERM/SIGINT; returns the exit code. */
export async function serveCommandLine(manifests: string[], opts: ServeCliOptions, io: ServeIo): Promise<number> {
  // Warnings and errors of the server (startup, reload, runs, schedules) go through the logger.
  const logger = createServeLogger({
    manifests,
    ...(opts.config !== undefined ? { configFile: opts.config } : {}),
    ...(opts.logLevel !== undefined ? { logLevel: opts.logLevel } : {}),
    ...(opts.logFile !== undefined ? { logFile: opts.logFile } : {}),
    env: io.env,
    cwd: io.cwd,
    stderr: io.stderr,
  });
  try {
    return await serveWithLog(manifests, opts, io, serverLogHook(logger));
  } finally {
    logger.close();
  }
}

async function serveWithLog(manifests: string[], opts: ServeCliOptions, io: ServeIo, log: (line: string) => void): Promise<number> {
  try {
    if (opts.metricsOnly) return await metricsOnly(manifests, opts, io);
    const { startServer, ServeError, WorkspaceError } = await import('../../server/daemon.js');
    let server;
    try {
      server = await startServer({
        manifests,
        ...(opts.host !== undefined ? { host: opts.host } : {}),
        ...(opts.port !== undefined ? { port: opts.port } : {}),
        ...(opts.token !== undefined ? { token: opts.token } : {}),
        ...(opts.config !== undefined ? { configFile: opts.config } : {}),
        env: io.env,
        cwd: io.cwd,
        node: process.execPath,
        cli: path.resolve(process.argv[1] ?? 'reprovm'),
        log,
      });
    } catch (error) {
      if (error instanceof ServeError || error instanceof WorkspaceError) {
        log(error.message);
        return 2;
      }
      throw error;
    }
    io.stdout.write(`reprovm: listening on ${server.url}\n`);
    const running = server;
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: NodeJS.Signals): void => {
        if (stopping) return;
        stopping = true;
        log(`reprovm: received ${signal}: stopping (running runs are cancelled)`);
        void running.close().then(resolve, (error: unknown) => {
          log(`reprovm: error while stopping: ${error instanceof Error ? error.message : String(error)}`);
          resolve();
        });
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
      process.on('SIGHUP', () => {
        const problem = running.reload();
        log(problem === undefined ? 'reprovm: configuration reloaded' : `reprovm: warning: configuration not reloaded, the old one stays: ${problem}`);
      });
    });
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      log(error.message);
      return 2;
    }
    throw error;
  }
}

async function metricsOnly(manifests: string[], opts: ServeCliOptions, io: ServeIo): Promise<number> {
  const loaded = loadConfig({ ...(opts.config ? { explicitFile: opts.config } : {}), env: io.env, workspace: io.cwd });
  const cacheDirs = manifests.length > 0
    ? manifests.map((m) => (loaded.config.cache.cache_dir !== '' ? path.resolve(loaded.config.cache.cache_dir) : path.join(path.dirname(path.resolve(io.cwd, m)), '.reprovm')))
    : [resolveOpsCacheDir(undefined, loaded, io.cwd)];
  const { startMetricsExporter } = await import('../../server/metrics-exporter.js');
  const { createMetrics } = await import('../../report/metrics-reporter.js');
  const exporter = await startMetricsExporter({
    host: opts.host ?? loaded.config.prometheus.host,
    port: opts.port ?? loaded.config.prometheus.port,
    cacheDirs: [...new Set(cacheDirs)],
    metrics: createMetrics(),
  });
  io.stdout.write(`reprovm: listening on ${exporter.url}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  await exporter.close();
  return 0;
}
