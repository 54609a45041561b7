import { statSync } from 'node:fs';
import path from 'node:path';
import type { FlagValue } from '../../config/describe.js';
import { describeConfig, formatSource, renderConfigText } from '../../config/describe.js';
import { loadCliConfig, type ConfigFlags } from '../cli-config.js';

/** Options of `reprovm config show`. */
export interface ConfigShowOptions extends ConfigFlags {
  json?: boolean;
}

/** What `config show` and `config check` need from main.ts. */
export interface ConfigIo {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly cwd: string;
}

/** The workspace whose configuration is looked up: the manifest's directory (or the directory given), else the current one. */
function workspaceOf(manifest: string | undefined, cwd: string): string {
  if (manifest === undefined) return cwd;
  const resolved = path.resolve(cwd, manifest);
  try {
    if (statSync(resolved).isDirectory()) return resolved;
  } catch {
    // A manifest that does not exist still names its directory.
  }
  return path.dirname(resolved);
}

/** The logging flags given, as values over the configuration. */
function flagValues(opts: ConfigFlags): FlagValue[] {
  const flags: FlagValue[] = [];
  if (opts.logLevel !== undefined) flags.push({ section: 'logging', key: 'level', value: opts.logLevel, flag: '--log-level' });
  if (opts.logFile !== undefined) flags.push({ section: 'logging', key: 'file', value: path.resolve(opts.logFile), flag: '--log-file' });
  return flags;
}

/**
 * `reprovm config show [--json] [manifest]`: the effective configuration with the source of every
 * value (default, file:line, env NAME, flag), secrets redacted. A bad configuration throws
 * `ConfigError` (exit 2).
 */
export function configShowCommandLine(manifest: string | undefined, opts: ConfigShowOptions, io: ConfigIo): number {
  const { loaded, logger } = loadCliConfig(opts, io, workspaceOf(manifest, io.cwd));
  try {
    const rows = describeConfig(loaded, flagValues(opts));
    if (opts.json) {
      const doc = {
        file: loaded.file ?? null,
        digest: loaded.digest ?? null,
        warnings: loaded.warnings,
        values: rows.map((r) => ({ ...r, sourceText: formatSource(r.source) })),
      };
      io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    } else io.stdout.write(renderConfigText(loaded, rows));
    return 0;
  } finally {
    logger.close();
  }
}

/**
 * `reprovm config check [manifest]`: loads and validates the configuration. Exit 0 when it is
 * valid (warnings are printed), 2 with every error otherwise (thrown as `ConfigError`).
 */
export function configCheckCommandLine(manifest: string | undefined, opts: ConfigFlags, io: ConfigIo): number {
  const { loaded, logger } = loadCliConfig(opts, io, workspaceOf(manifest, io.cwd));
  logger.close();
  const what = loaded.file !== undefined ? loaded.file : 'no configuration file; defaults and environment';
  const warnings = loaded.warnings.length > 0 ? ` (${loaded.warnings.length} warning${loaded.warnings.length === 1 ? '' : 's'})` : '';
  io.stdout.write(`reprovm: configuration ok: ${what}${warnings}\n`);
  return 0;
}
