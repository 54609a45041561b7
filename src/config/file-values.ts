import { didYouMean } from './suggest.js';
import { newNamedEntry, resolveFilePath, sourceKey, type Draft } from './draft.js';
import type { IniLines } from './ini-lines.js';
import { parseValue } from './parse-value.js';
import { CONFIG_SCHEMA, NAMED_SECTION_SCHEMA, type KeySpec } from './schema.js';

/** What applying a file found: errors (bad values) and warnings (unknown sections/keys). */
export interface FileProblems {
  readonly errors: string[];
  readonly warnings: string[];
}

type Parsed = Record<string, unknown>;

const isObject = (v: unknown): v is Parsed => typeof v === 'object' && v !== null && !Array.isArray(v);

function where(file: string, line: number | undefined): string {
  return line === undefined ? file : `${file}:${line}`;
}

function suggestion(candidate: string | undefined, wrap: (s: string) => string): string {
  return candidate === undefined ? '' : ` (did you mean ${wrap(candidate)}?)`;
}

/** The text `ini` made of a value: it turns `true`/`false`/`null` into JSON values and `k[]` into arrays. */
function rawText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean' || value === null) return String(value);
  if (Array.isArray(value)) return value.map((v) => String(v)).join(', ');
  return undefined;
}

/** Applies the keys of one section (`label` is `execution` or `schedule.NAME`) to `target`. */
function applyKeys(
  label: string,
  values: Parsed,
  schema: Record<string, KeySpec>,
  target: Record<string, unknown>,
  ctx: { file: string; lines: IniLines; draft: Draft; problems: FileProblems },
): void {
  const { file, lines, draft, problems } = ctx;
  for (const [key, value] of Object.entries(values)) {
    const line = lines.keyLine(label, key) ?? lines.sectionLine(`${label}.${key}`);
    const spec = schema[key];
    if (spec === undefined) {
      if (isObject(value)) problems.warnings.push(`${where(file, line)}: unknown section [${label}.${key}]`);
      else problems.warnings.push(`${where(file, line)}: unknown key "${key}" in [${label}]${suggestion(didYouMean(key, Object.keys(schema)), (s) => `"${s}"`)}`);
      continue;
    }
    const raw = rawText(value);
    const parsed = raw === undefined ? undefined : parseValue(spec.type, raw);
    if (parsed === undefined || !parsed.ok) {
      const expected = parsed === undefined ? 'a value, not a section' : parsed.expected;
      const shown = spec.secret || raw === undefined ? '' : ` "${raw}"`;
      problems.errors.push(`${where(file, line)}: invalid value${shown} for ${key} in [${label}]: expected ${expected}`);
      continue;
    }
    target[key] = resolveFilePath(label, key, parsed.value, file);
    draft.sources.set(sourceKey(label, key), { kind: 'file', file, line: line ?? 0 });
  }
}

/**
 * Applies the object `ini` parsed from `file` to the draft: known keys are parsed against the
 * schema (a bad value is an error naming file:line and what is allowed), unknown sections and
 * keys are warnings with the closest known name.
 */
export function applyFileValues(parsed: Parsed, file: string, lines: IniLines, draft: Draft): FileProblems {
  const problems: FileProblems = { errors: [], warnings: [] };
  const ctx = { file, lines, draft, problems };
  const fixedNames = Object.keys(CONFIG_SCHEMA);
  const namedKinds = Object.keys(NAMED_SECTION_SCHEMA);
  for (const [section, values] of Object.entries(parsed)) {
    if (!isObject(values)) {
      problems.warnings.push(`${where(file, lines.keyLine('', section))}: key "${section}" is outside any section (ignored)`);
      continue;
    }
    if (section in CONFIG_SCHEMA) {
      const schema: Record<string, KeySpec> = CONFIG_SCHEMA[section as keyof typeof CONFIG_SCHEMA];
      applyKeys(section, values, schema, draft.sections[section] ?? {}, ctx);
    } else if (section in NAMED_SECTION_SCHEMA) {
      const kind = section as keyof typeof NAMED_SECTION_SCHEMA;
      const schema: Record<string, KeySpec> = NAMED_SECTION_SCHEMA[kind];
      for (const [name, entryValues] of Object.entries(values)) {
        if (!isObject(entryValues)) {
          const line = lines.keyLine(section, name);
          problems.warnings.push(`${where(file, line)}: key "${name}" in [${section}] is ignored: ${section} settings go in named sections such as [${section}.NAME]`);
          continue;
        }
        const entry = newNamedEntry(kind, name);
        applyKeys(`${section}.${name}`, entryValues, schema, entry, ctx);
        draft.named[kind]?.push(entry);
      }
    } else {
      const hint = didYouMean(section, [...fixedNames, ...namedKinds]);
      const shown = hint !== undefined && namedKinds.includes(hint) ? `${hint}.NAME` : hint;
      problems.warnings.push(`${where(file, lines.sectionLine(section))}: unknown section [${section}]${suggestion(shown, (s) => `[${s}]`)}`);
    }
  }
  // `ini` moves `[a.b]` sections after the others: report in file order.
  const lineOf = (text: string): number => Number(/^.*?:(\d+): /.exec(text.slice(file.length))?.[1] ?? 0);
  const byLine = (a: string, b: string): number => lineOf(a) - lineOf(b);
  return { errors: problems.errors.sort(byLine), warnings: problems.warnings.sort(byLine) };
}
