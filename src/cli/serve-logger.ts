/**
 * Diagnostics of `reprovm serve`: the server reports through one `log(line)` hook (lines such as
 * `reprovm: warning: ...`); here they go to the logger of the `[logging]` section, so they honour
 * `--log-level` / `[logging] level` and are copied as JSON lines to the log file. Changes to
 * `[logging]` take effect at the next start (a reload keeps the logger).
 */
import path from 'node:path';
import { ConfigError, defaultConfig, loadConfig, type LoadedConfig } from '../config/load.js';
import { environmentSecrets } from '../config/redact.js';
import { createLogger, type Logger, type LogLevel } from '../log/logger.js';

/** What the logger of `serve` is created from. */
export interface ServeLoggerOptions {
  readonly manifests: readonly string[];
  readonly configFile?: string;
  readonly logLevel?: LogLevel;
  readonly logFile?: string;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly stderr: NodeJS.WritableStream;
}

/**
 * The logger of `serve`, from the configuration the server will load (same file lookup). A bad
 * configuration gives a default logger: the server itself then reports the error through it.
 */
export function createServeLogger(o: ServeLoggerOptions): Logger {
  const first = o.manifests[0];
  let loaded: LoadedConfig | undefined;
  try {
    loaded = loadConfig({
      ...(o.configFile !== undefined ? { explicitFile: o.configFile } : {}),
      env: o.env,
      workspace: first !== undefined ? path.dirname(path.resolve(o.cwd, first)) : o.cwd,
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
  }
  const config = loaded?.config ?? defaultConfig();
  const file = o.logFile ?? config.logging.file;
  return createLogger({
    level: o.logLevel ?? config.logging.level,
    ...(file !== '' ? { file: path.resolve(o.cwd, file) } : {}),
    stderr: o.stderr,
    config,
    extraSecrets: environmentSecrets(o.env),
  });
}

const LEVEL_PREFIX = /^reprovm: (warning|error|fatal): /;

/**
 * The server's `log(line)` hook on top of a logger: `reprovm: warning|error|fatal: ...` lines
 * keep their level, other `reprovm: ...` lines are info, and a bare message (a configuration
 * error's text) is an error.
 */
export function serverLogHook(logger: Logger): (line: string) => void {
  return (line) => {
    const m = LEVEL_PREFIX.exec(line);
    if (m) {
      const msg = line.slice(m[0].length);
      if (m[1] === 'warning') logger.warn(msg);
      else if (m[1] === 'error') logger.error(msg);
      else logger.fatal(msg);
    } else if (line.startsWith('reprovm: ')) logger.info(line.slice('reprovm: '.length));
    else logger.error(line);
  };
}
