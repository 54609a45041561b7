import path from 'node:path';
import { CONFIG_SCHEMA, NAMED_SECTION_SCHEMA, type Config, type KeySpec, type ValueSource } from './schema.js';

/**
 * A configuration being assembled: the schema's defaults, overwritten by the file, then the
 * environment, with the source of every value. Values are stored untyped here; they were parsed
 * against the schema, which is what `Config`'s types are derived from.
 */
export interface Draft {
  readonly sections: Record<string, Record<string, unknown>>;
  readonly named: Record<string, Record<string, unknown>[]>;
  readonly sources: Map<string, ValueSource>;
}

/** Keys holding a file path: a relative one in a config file is relative to that file's directory. */
const PATH_KEYS = new Set(['cache.cache_dir', 'logging.file', 'audit.path', 'server.token_file', 'server.tls_cert', 'server.tls_key', 'backup.location']);

function copyDefault(spec: KeySpec): unknown {
  return Array.isArray(spec.default) ? [...spec.default] : spec.default;
}

/** A draft holding only the defaults. */
export function newDraft(): Draft {
  const sections: Record<string, Record<string, unknown>> = {};
  for (const [section, keys] of Object.entries(CONFIG_SCHEMA)) {
    sections[section] = Object.fromEntries(Object.entries<KeySpec>(keys).map(([k, spec]) => [k, copyDefault(spec)]));
  }
  const named = Object.fromEntries(Object.keys(NAMED_SECTION_SCHEMA).map((kind) => [kind, [] as Record<string, unknown>[]]));
  return { sections, named, sources: new Map() };
}

/** A named section's entry with every key at its default. */
export function newNamedEntry(kind: keyof typeof NAMED_SECTION_SCHEMA, name: string): Record<string, unknown> {
  const keys: Record<string, KeySpec> = NAMED_SECTION_SCHEMA[kind];
  return { name, ...Object.fromEntries(Object.entries(keys).map(([k, spec]) => [k, copyDefault(spec)])) };
}

/** The key of {@link Draft.sources}: `section` is `execution` or `schedule.NAME`. */
export function sourceKey(section: string, key: string): string {
  return `${section}\0${key}`;
}

/**
 * A path value from a config file, made absolute against the file's directory. URLs (`s3://...`)
 * and empty values stay as they are.
 */
export function resolveFilePath(section: string, key: string, value: unknown, file: string): unknown {
  if (!PATH_KEYS.has(`${section}.${key}`) || typeof value !== 'string' || value === '') return value;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  return path.resolve(path.dirname(file), value);
}

/** The typed configuration of a draft. */
export function draftToConfig(draft: Draft): Config {
  // The values were parsed against the schema that `Config` is derived from.
  return { ...draft.sections, ...draft.named } as unknown as Config;
}
