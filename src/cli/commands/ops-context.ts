/**
 * What the maintenance commands (`cache`, `health`, `backup`) start from: the configuration
 * (`--config`, `REPROVM_CONFIG`, ./reprovm.conf, ...; env overrides), the cache directory
 * (`--cache-dir`, else `cache_dir`, else ./.reprovm) and the audit log when enabled. Options
 * given before the subcommand (`reprovm --config FILE cache stats`) reach it through main.ts's
 * preAction hook (global-options.ts).
 */
import type { Command } from 'commander';
import { ConfigError, type LoadedConfig } from '../../config/load.js';
import type { Logger } from '../../log/logger.js';
import { openAuditLog, type AuditEventType, type AuditLog } from '../../ops/audit-log.js';
import { loadCliConfig, withConfigOptions, type ConfigFlags } from '../cli-config.js';
import { resolveOpsCacheDir } from '../cache-location.js';
import { environmentSecrets } from '../run-audit-notify.js';

/** The streams and environment a maintenance command gets from main.ts. */
export interface OpsIo {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly cwd: string;
}

/** Options every maintenance command accepts. */
export interface OpsOptions extends ConfigFlags {
  cacheDir?: string;
}

/** A loaded maintenance context. */
export interface OpsContext {
  readonly loaded: LoadedConfig;
  readonly cacheDir: string;
  readonly audit: AuditLog | undefined;
  /** Diagnostics (`--log-level`, `--log-file`, `[logging]`): warnings of the command go here. */
  readonly logger: Logger;
  /** Append an audit entry when the log is enabled (never throws). */
  record(type: AuditEventType, details: Record<string, unknown>): void;
  close(): Promise<void>;
}

/** Adds `--cache-dir` and `--config` to a maintenance command. */
export function withOpsOptions(cmd: Command): Command {
  return withConfigOptions(cmd).option('--cache-dir <dir>', 'cache directory (default: the configured cache_dir, else ./.reprovm)');
}

/**
 * Load config and cache dir. A bad configuration is a value (`message`, one line per problem);
 * unknown-key warnings are printed on stderr.
 */
export function loadOpsContext(opts: OpsOptions, io: OpsIo): { ok: true; ctx: OpsContext } | { ok: false; message: string } {
  let loaded: LoadedConfig;
  let logger: Logger;
  try {
    // Warnings (unknown keys) go through the logger, honouring --log-level and --log-file.
    ({ loaded, logger } = loadCliConfig(opts, io, io.cwd));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { ok: false, message: error.problems.join('; ') };
  }
  const cacheDir = resolveOpsCacheDir(opts.cacheDir, loaded, io.cwd);
  // Secrets held only in the environment (signing key, cloud keys) are redacted like configured ones.
  const audit = openAuditLog(loaded.config, cacheDir, { extraSecrets: environmentSecrets(io.env), warn: (m) => logger.warn(m) });
  const ctx: OpsContext = {
    loaded,
    cacheDir,
    audit,
    logger,
    record: (type, details) => audit?.append(type, details),
    close: async () => {
      await audit?.close();
      logger.close();
    },
  };
  return { ok: true, ctx };
}

/** {@link loadOpsContext}, printing a configuration error (the caller exits 2 on undefined). */
export function openOpsContext(opts: OpsOptions, io: OpsIo): OpsContext | undefined {
  const r = loadOpsContext(opts, io);
  if (r.ok) return r.ctx;
  io.stderr.write(`reprovm: error: ${r.message}\n`);
  return undefined;
}

/** One line for an error that ended a maintenance command. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
