import { CONFIG_SCHEMA, type KeySpec } from './schema.js';

/**
 * Environment overrides: every key of a fixed section is read from `REPROVM_<SECTION>_<KEY>`
 * (upper case) and from the short names in the schema's `env` (`REPROVM_JOBS`, ...); when both are
 * set, the long name wins. Named sections (`[schedule.NAME]`, `[token.NAME]`) have no overrides.
 */

/** The environment variables that override one key, most specific first. */
export function envNamesFor(section: string, key: string, spec: KeySpec): string[] {
  return [`REPROVM_${section.toUpperCase()}_${key.toUpperCase()}`, ...(spec.env ?? [])];
}

/** One override found in the environment. */
export interface EnvOverride {
  readonly section: string;
  readonly key: string;
  readonly spec: KeySpec;
  readonly name: string;
  readonly raw: string;
}

/**
 * The overrides set in `env`. An empty variable counts as set for text and list keys (so
 * `REPROVM_REMOTE=` switches a configured remote off) and as unset for the other types.
 */
export function findEnvOverrides(env: NodeJS.ProcessEnv): EnvOverride[] {
  const found: EnvOverride[] = [];
  for (const [section, keys] of Object.entries(CONFIG_SCHEMA)) {
    for (const [key, spec] of Object.entries<KeySpec>(keys)) {
      const textual = spec.type.kind === 'string' || spec.type.kind === 'list';
      const name = envNamesFor(section, key, spec).find((n) => env[n] !== undefined && (textual || env[n] !== ''));
      if (name !== undefined) found.push({ section, key, spec, name, raw: env[name] ?? '' });
    }
  }
  return found;
}
