import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import ini from 'ini';
import { draftToConfig, newDraft, sourceKey, type Draft } from './draft.js';
import { findEnvOverrides, unknownEnvWarnings } from './env.js';
import { ConfigError } from './errors.js';
import { applyFileValues } from './file-values.js';
import { findConfigFile } from './find-file.js';
import { scanIniLines } from './ini-lines.js';
import { parseValue } from './parse-value.js';
import type { Config, ValueSource } from './schema.js';

export { ConfigError } from './errors.js';

/** The effective configuration (file and environment applied; flags are applied by the caller). */
export interface LoadedConfig {
  readonly config: Config;
  /** Where a value came from; `section` is `execution`, ... or `schedule.NAME` / `token.NAME`. */
  sourceOf(section: string, key: string): ValueSource;
  /** The configuration file read (absolute), if any. */
  readonly file?: string;
  /** SHA-256 (hex) of the file's bytes, if a file was read. */
  readonly digest?: string;
  /**
   * Unknown sections and keys (`file:line: unknown key ...`) and misspelt `REPROVM_<SECTION>_<KEY>`
   * variables, one line each, for the caller to print once.
   */
  readonly warnings: string[];
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** `--config FILE`: must exist. */
  readonly explicitFile?: string;
  /** The environment: `REPROVM_CONFIG`, `REPROVM_SYSTEM_CONFIG` and the per-key overrides. */
  readonly env: NodeJS.ProcessEnv;
  /** The workspace whose `reprovm.conf` and `.reprovm/reprovm.conf` are looked for. */
  readonly workspace?: string;
}

/** The configuration with every key at its schema default. */
export function defaultConfig(): Config {
  return draftToConfig(newDraft());
}

const DEFAULT_SOURCE: ValueSource = { kind: 'default' };

function applyEnv(env: NodeJS.ProcessEnv, draft: Draft, errors: string[]): void {
  for (const o of findEnvOverrides(env)) {
    const parsed = parseValue(o.spec.type, o.raw);
    if (!parsed.ok) {
      const shown = o.spec.secret ? '' : ` "${o.raw}"`;
      errors.push(`environment variable ${o.name}: invalid value${shown} for ${o.key} in [${o.section}]: expected ${parsed.expected}`);
      continue;
    }
    const target = draft.sections[o.section];
    if (target) target[o.key] = parsed.value;
    draft.sources.set(sourceKey(o.section, o.key), { kind: 'env', name: o.name });
  }
}

/**
 * Loads the configuration: schema defaults, then the first configuration file found (see
 * {@link findConfigFile}), then `REPROVM_*` environment overrides. Relative paths from the file
 * are made absolute against its directory; those from the environment are left for the caller to
 * resolve against the current directory. Throws {@link ConfigError} listing every bad value (each
 * naming `file:line` or the variable, and what is allowed); unknown sections and keys are only
 * warnings.
 */
export function loadConfig(opts: LoadConfigOptions): LoadedConfig {
  const file = findConfigFile(opts);
  const draft = newDraft();
  const errors: string[] = [];
  const warnings: string[] = [];
  let digest: string | undefined;
  if (file !== undefined) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConfigError([`${file}: cannot read the configuration file: ${reason}`]);
    }
    digest = createHash('sha256').update(bytes).digest('hex');
    const text = bytes.toString('utf8');
    const found = applyFileValues(ini.parse(text) as Record<string, unknown>, file, scanIniLines(text), draft);
    errors.push(...found.errors);
    warnings.push(...found.warnings);
  }
  applyEnv(opts.env, draft, errors);
  warnings.push(...unknownEnvWarnings(opts.env));
  if (errors.length > 0) throw new ConfigError(errors);
  return {
    config: draftToConfig(draft),
    sourceOf: (section, key) => draft.sources.get(sourceKey(section, key)) ?? DEFAULT_SOURCE,
    ...(file !== undefined ? { file } : {}),
    ...(digest !== undefined ? { digest } : {}),
    warnings,
  };
}
