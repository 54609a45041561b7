import { parseDurationSeconds } from './durations.js';
import type { KeyType } from './schema.js';

/** A parsed configuration value, or what was expected instead (a phrase naming the allowed values). */
export type ParsedValue =
  | { readonly ok: true; readonly value: number | boolean | string | readonly string[] }
  | { readonly ok: false; readonly expected: string };

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

/** Accepted spellings of enum words (only where the enum has the word): `warn` for `warning`, as `--log-level` takes. */
const ENUM_ALIASES: Readonly<Record<string, string>> = { warn: 'warning' };

/** The allowed values of a type, as said in error messages (`expected ...`). */
export function describeType(type: KeyType): string {
  switch (type.kind) {
    case 'int':
      return type.max === undefined ? `a whole number of at least ${type.min}` : `a whole number from ${type.min} to ${type.max}`;
    case 'number':
      return `a number of at least ${type.min}${type.allowInfinity ? ', or inf' : ''}`;
    case 'bool':
      return 'one of: true, false, yes, no, on, off, 1, 0';
    case 'enum':
      return `one of: ${type.values.join(', ')}`;
    case 'duration':
      return 'a duration: seconds (90) or with a unit (90s, 15m, 2h, 1d)';
    case 'string':
      return 'text';
    case 'list':
      return 'a list of words separated by commas or spaces';
  }
}

/** Parses the raw text of a value (from the file or the environment) against its schema type. */
export function parseValue(type: KeyType, raw: string): ParsedValue {
  const text = raw.trim();
  const bad: ParsedValue = { ok: false, expected: describeType(type) };
  switch (type.kind) {
    case 'int': {
      if (!/^[+-]?\d+$/.test(text)) return bad;
      const n = Number(text);
      return n < type.min || (type.max !== undefined && n > type.max) ? bad : { ok: true, value: n };
    }
    case 'number': {
      const lower = text.toLowerCase();
      if (type.allowInfinity && (lower === 'inf' || lower === 'infinity')) return { ok: true, value: Infinity };
      if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(text)) return bad;
      const n = Number(text);
      return n < type.min ? bad : { ok: true, value: n };
    }
    case 'bool': {
      const lower = text.toLowerCase();
      if (TRUE.has(lower)) return { ok: true, value: true };
      if (FALSE.has(lower)) return { ok: true, value: false };
      return bad;
    }
    case 'enum': {
      // Words are matched without regard to case (`INFO`, `Warning`), like the matching flags.
      const lower = text.toLowerCase();
      const alias = ENUM_ALIASES[lower];
      const wanted = alias !== undefined && type.values.includes(alias) ? alias : lower;
      const word = type.values.find((v) => v.toLowerCase() === wanted);
      return word === undefined ? bad : { ok: true, value: word };
    }
    case 'duration': {
      const s = parseDurationSeconds(text);
      return s === undefined ? bad : { ok: true, value: s };
    }
    case 'string':
      return { ok: true, value: raw };
    case 'list':
      return { ok: true, value: text.split(/[\s,]+/).filter((w) => w !== '') };
  }
}
