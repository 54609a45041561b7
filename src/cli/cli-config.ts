import path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/load.js';
import { environmentSecrets } from '../config/redact.js';
import { createLogger, LOG_LEVELS, parseLogLevel, type Logger, type LogLevel } from '../log/logger.js';

/** The options every command accepts for configuration and logging. */
export interface ConfigFlags {
  config?: string;
  logLevel?: LogLevel;
  logFile?: string;
}

function logLevel(value: string): LogLevel {
  const level = parseLogLevel(value);
  if (level === undefined) throw new InvalidArgumentError(`expected one of: ${LOG_LEVELS.join(', ')}`);
  return level;
}

/** Adds `--config`, `--log-level` and `--log-file` to a command. */
export function withConfigOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'configuration file (default: REPROVM_CONFIG, <workspace>/reprovm.conf, <workspace>/.reprovm/reprovm.conf, /etc/reprovm/reprovm.conf)')
    .addOption(new Option('--log-level <level>', `lowest level of diagnostics written: ${LOG_LEVELS.join(', ')} (default: [logging] level)`).argParser(logLevel))
    .option('--log-file <file>', 'also write diagnostics as JSON lines to this file (default: [logging] file)');
}

/** A loaded configuration with the logger it asks for. */
export interface CliConfig {
  readonly loaded: LoadedConfig;
  readonly logger: Logger;
}

/**
 * Loads the configuration for a command (the workspace's, or the current directory's without a
 * manifest), creates the logger (flags over `[logging]`), and prints the configuration's warnings
 * once. Throws {@link ConfigError} on a bad configuration; main.ts prints it and exits 2.
 */
export function loadCliConfig(flags: ConfigFlags, io: { env: NodeJS.ProcessEnv; stderr: NodeJS.WritableStream }, workspace: string): CliConfig {
  const loaded = loadConfig({ ...(flags.config !== undefined ? { explicitFile: flags.config } : {}), env: io.env, workspace });
  const logFile = flags.logFile ?? loaded.config.logging.file;
  const logger = createLogger({
    level: flags.logLevel ?? loaded.config.logging.level,
    ...(logFile !== '' ? { file: logFile } : {}),
    stderr: io.stderr,
    config: loaded.config,
    // Like the audit log: secrets held only in the environment never reach a log line either.
    extraSecrets: environmentSecrets(io.env),
  });
  for (const w of loaded.warnings) logger.warn(w);
  if (loaded.file !== undefined) logger.debug('configuration loaded', { file: loaded.file, digest: loaded.digest });
  else logger.debug('no configuration file; using defaults and the environment');
  return { loaded, logger };
}

/** The lines main.ts prints for a configuration error, one per problem. */
export function configErrorLines(error: ConfigError): string {
  return error.problems.map((p) => `reprovm: error: ${p}\n`).join('');
}

/**
 * For the commands that read a workspace's cache without a run (`explain`, `verify-repro`): the
 * configuration of the manifest's workspace is loaded (and validated; warnings printed) and its
 * `cache_dir` fills in a missing `--cache-dir`, so they look at the cache a run writes. With
 * `fill.jobs` (commands with `-j`), `[execution] parallel_jobs` fills in a missing `--jobs`
 * (its automatic 0 stays unset: the command uses the number of CPUs).
 */
export function withConfiguredCacheDir<T extends ConfigFlags & { cacheDir?: string; jobs?: number }>(
  manifest: string,
  opts: T,
  io: { env: NodeJS.ProcessEnv; stderr: NodeJS.WritableStream },
  fill: { readonly jobs?: boolean } = {},
): T {
  const { loaded, logger } = loadCliConfig(opts, io, path.dirname(path.resolve(manifest)));
  logger.close();
  let out = opts;
  const jobs = loaded.config.execution.parallel_jobs;
  if (fill.jobs === true && opts.jobs === undefined && jobs > 0) out = { ...out, jobs };
  const configured = loaded.config.cache.cache_dir;
  // A cache_dir from a file is already absolute; one from REPROVM_CACHE_DIR is relative to the current directory.
  if (opts.cacheDir === undefined && configured !== '') out = { ...out, cacheDir: path.resolve(configured) };
  return out;
}
