import type { Command } from 'commander';
import { Option } from 'commander';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/load.js';
import { createLogger, LOG_LEVELS, parseLogLevel, type Logger, type LogLevel } from '../log/logger.js';

/** The options every command accepts for configuration and logging. */
export interface ConfigFlags {
  config?: string;
  logLevel?: LogLevel;
  logFile?: string;
}

/** Adds `--config`, `--log-level` and `--log-file` to a command. */
export function withConfigOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'configuration file (default: REPROVM_CONFIG, <workspace>/reprovm.conf, <workspace>/.reprovm/reprovm.conf, /etc/reprovm/reprovm.conf)')
    .addOption(new Option('--log-level <level>', 'lowest level of diagnostics written (default: [logging] level)').choices(LOG_LEVELS).argParser((v) => parseLogLevel(v) ?? v))
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
