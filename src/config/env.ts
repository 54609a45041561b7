import { CONFIG_SCHEMA, type KeySpec } from './schema.js';
import { didYouMean } from './suggest.js';

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

/**
 * Variables named like an override (`REPROVM_<SECTION>_...`) that are not configuration keys but
 * are read elsewhere: they never count as misspelt overrides.
 */
const OTHER_REPROVM_VARIABLES: readonly string[] = [
  'REPROVM_CONFIG',
  'REPROVM_SYSTEM_CONFIG',
  'REPROVM_SPAWNER',
  'REPROVM_CACHE_SIGNING_KEY',
  'REPROVM_SERVER_TOKEN',
  'REPROVM_RETRY_BACKOFF_MS',
  'REPROVM_NOTIFY_BACKOFF_MS',
  'REPROVM_SKIP_NATIVE',
  'REPROVM_TASK',
  'REPROVM_FAST_NOOP',
];

/**
 * One warning per variable that starts like an override of a known section
 * (`REPROVM_EXECUTION_`, `REPROVM_CACHE_`, ...) but names no key, with the closest variable
 * when one is near (`REPROVM_EXECUTION_JBOS` → `REPROVM_EXECUTION_PARALLEL_JOBS`). Other
 * `REPROVM_*` names are left alone: tools and tests use their own.
 */
export function unknownEnvWarnings(env: NodeJS.ProcessEnv): string[] {
  const known = new Set(OTHER_REPROVM_VARIABLES);
  const bySection = new Map<string, string[]>();
  for (const [section, keys] of Object.entries(CONFIG_SCHEMA)) {
    const names: string[] = [];
    for (const [key, spec] of Object.entries<KeySpec>(keys)) {
      for (const n of envNamesFor(section, key, spec)) known.add(n);
      names.push(envNamesFor(section, key, spec)[0] ?? '');
    }
    bySection.set(`REPROVM_${section.toUpperCase()}_`, names);
  }
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (known.has(name) || env[name] === undefined) continue;
    const prefix = [...bySection.keys()].find((p) => name.startsWith(p));
    if (prefix === undefined) continue;
    const candidates = bySection.get(prefix) ?? [];
    const rest = name.slice(prefix.length);
    const close = didYouMean(rest, candidates.map((c) => c.slice(prefix.length)));
    const section = prefix.slice('REPROVM_'.length, -1).toLowerCase();
    const hint = close === undefined ? '' : ` (did you mean ${prefix}${close}?)`;
    warnings.push(`environment variable ${name}: no such key in [${section}]${hint}; it is ignored`);
  }
  return warnings;
}
