/**
 * Diagnostics logging (configuration loaded, remote trouble, server requests): human lines on
 * stderr and, optionally, JSON lines in a file. Run output is not logged here; that is what the
 * reporters are for.
 *
 * Log file format: one JSON object per line, `{"time": ISO-8601, "level", "msg", "fields"?}`,
 * appended with one `write` per line to a file opened with O_APPEND, so several processes may
 * share a file without interleaving inside a line. No fsync: a crash may lose the last lines,
 * and a torn last line is just unparseable text for a reader to skip.
 *
 * Every message and field passes through `redactSecrets`: no configured secret and no URL
 * credential is ever written.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { secretRedactor } from '../config/redact.js';
import type { Config } from '../config/schema.js';
import { levelEnabled, type LogLevel } from './levels.js';

export { LOG_LEVELS, parseLogLevel, type LogLevel } from './levels.js';

/** Structured context of a log entry. */
export type LogFields = Readonly<Record<string, unknown>>;

/** A diagnostics logger. Methods never throw. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  fatal(msg: string, fields?: LogFields): void;
  /** Closes the log file (later entries go to the console only). */
  close(): void;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Lowest level written, to the console and to the file. */
  readonly level: LogLevel;
  /** Also append JSON lines here (its directory is created). */
  readonly file?: string;
  readonly stderr: NodeJS.WritableStream;
  /** Its secrets are redacted from every entry. */
  readonly config: Config;
  /** Further secret values to redact (those held only in the environment). */
  readonly extraSecrets?: readonly string[];
}

function fieldText(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (value instanceof Error) return JSON.stringify(value.message);
  return JSON.stringify(value) ?? String(value);
}

function jsonFields(fields: LogFields): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v instanceof Error ? v.message : v]));
}

/**
 * A logger writing `reprovm: <level>: msg key=value ...` lines to stderr and JSON lines to the
 * log file. A log file that cannot be opened or written is reported once on stderr; logging then
 * continues on the console.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const redact = secretRedactor(opts.config, opts.extraSecrets ?? []);
  let fd: number | undefined;
  let fileFailed = false;
  const fileProblem = (error: unknown): void => {
    if (fileFailed) return;
    fileFailed = true;
    const reason = error instanceof Error ? error.message : String(error);
    opts.stderr.write(redact(`reprovm: warning: cannot write the log file ${opts.file ?? ''}: ${reason}; logging to the console only\n`));
  };
  if (opts.file !== undefined && opts.file !== '') {
    try {
      mkdirSync(path.dirname(opts.file), { recursive: true });
      fd = openSync(opts.file, 'a', 0o640);
    } catch (error) {
      fileProblem(error);
    }
  }
  const write = (level: LogLevel, msg: string, fields: LogFields | undefined): void => {
    if (!levelEnabled(level, opts.level)) return;
    const hasFields = fields !== undefined && Object.keys(fields).length > 0;
    const extra = hasFields ? Object.entries(fields).map(([k, v]) => ` ${k}=${fieldText(v)}`).join('') : '';
    opts.stderr.write(redact(`reprovm: ${level}: ${msg}${extra}`) + '\n');
    if (fd === undefined) return;
    const entry = { time: new Date().toISOString(), level, msg, ...(hasFields ? { fields: jsonFields(fields) } : {}) };
    try {
      writeSync(fd, redact(JSON.stringify(entry)) + '\n');
    } catch (error) {
      fileProblem(error);
    }
  };
  return {
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warning', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
    fatal: (msg, fields) => write('fatal', msg, fields),
    close: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
