import type { LoadedConfig } from './load.js';
import { REDACTED, redactSecrets } from './redact.js';
import { CONFIG_SCHEMA, NAMED_SECTION_SCHEMA, type KeySpec, type ValueSource } from './schema.js';

/** One effective value, as `config show` prints it. */
export interface ShownValue {
  /** `execution`, ... or `schedule.NAME` / `token.NAME`. */
  readonly section: string;
  readonly key: string;
  /** Secrets are `***` when set; `inf` for an unlimited rate; JSON-safe. */
  readonly value: number | boolean | string | readonly string[];
  readonly source: ValueSource;
}

/** Values given as flags on the command line, over the loaded configuration. */
export interface FlagValue {
  readonly section: string;
  readonly key: string;
  readonly value: number | boolean | string | readonly string[];
  readonly flag: string;
}

function shownValue(spec: KeySpec, value: unknown): ShownValue['value'] {
  if (spec.secret) return typeof value === 'string' && value !== '' ? REDACTED : '';
  if (typeof value === 'number' && !Number.isFinite(value)) return 'inf';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(String);
  return String(value);
}

/**
 * Every effective value with its source, in schema order; named sections after the fixed ones.
 * Secret keys are replaced by `***` (when set), and every other value is passed through
 * `redactSecrets` (URL credentials, a secret repeated elsewhere).
 */
export function describeConfig(loaded: LoadedConfig, flags: readonly FlagValue[] = []): ShownValue[] {
  const rows: ShownValue[] = [];
  const config = loaded.config as unknown as Record<string, unknown>;
  const add = (section: string, key: string, spec: KeySpec, value: unknown): void => {
    const flag = flags.find((f) => f.section === section && f.key === key);
    const source: ValueSource = flag ? { kind: 'flag', name: flag.flag } : loaded.sourceOf(section, key);
    const shown = shownValue(spec, flag ? flag.value : value);
    const clean = typeof shown === 'string' ? redactSecrets(shown, loaded.config) : Array.isArray(shown) ? shown.map((s) => redactSecrets(s, loaded.config)) : shown;
    rows.push({ section, key, value: clean, source });
  };
  for (const [section, keys] of Object.entries(CONFIG_SCHEMA)) {
    const values = (config[section] ?? {}) as Record<string, unknown>;
    for (const [key, spec] of Object.entries<KeySpec>(keys)) add(section, key, spec, values[key]);
  }
  for (const [kind, keys] of Object.entries(NAMED_SECTION_SCHEMA)) {
    for (const entry of (config[kind] ?? []) as Record<string, unknown>[]) {
      for (const [key, spec] of Object.entries<KeySpec>(keys)) add(`${kind}.${String(entry.name)}`, key, spec, entry[key]);
    }
  }
  return rows;
}

/** A source in words: `default`, `/etc/reprovm/reprovm.conf:12`, `env REPROVM_JOBS`, `flag --log-level`. */
export function formatSource(source: ValueSource): string {
  switch (source.kind) {
    case 'default':
      return 'default';
    case 'file':
      return `${source.file}:${source.line}`;
    case 'env':
      return `env ${source.name}`;
    case 'flag':
      return `flag ${source.name}`;
  }
}

function formatValue(value: ShownValue['value']): string {
  if (Array.isArray(value)) return value.join(', ');
  return String(value);
}

/** The effective configuration as INI text, each value followed by its source as a comment. */
export function renderConfigText(loaded: LoadedConfig, rows: readonly ShownValue[]): string {
  const out: string[] = [loaded.file !== undefined ? `# configuration file: ${loaded.file}` : '# no configuration file (defaults and environment)'];
  let section = '';
  const width = Math.min(48, Math.max(0, ...rows.map((r) => `${r.key} = ${formatValue(r.value)}`.length)));
  for (const r of rows) {
    if (r.section !== section) {
      section = r.section;
      out.push('', `[${section}]`);
    }
    const text = `${r.key} = ${formatValue(r.value)}`;
    out.push(`${text.padEnd(width)}  ; ${formatSource(r.source)}`);
  }
  return out.join('\n') + '\n';
}
