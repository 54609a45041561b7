import type { DiagnosticCode } from '../errors/diagnostic.js';
import { err, ok, type Result } from '../errors/result.js';

/*
 * Value-level parsing for manifest entries (lists, paths, durations, booleans). Kept apart from
 * the line parser so each piece is testable alone and knows nothing about spans beyond offsets.
 */

/** A problem inside a value; `offset` is relative to the value's first character. */
export interface Problem {
  readonly code: DiagnosticCode;
  readonly offset: number;
  readonly length: number;
  readonly message: string;
  readonly notes?: readonly string[];
}

/** One list item: its unquoted text and where its raw text (quotes included) sits in the value. */
export interface ListItem {
  readonly value: string;
  readonly offset: number;
  readonly length: number;
}

/**
 * Splits a list value on commas and/or whitespace. `"..."` items may hold spaces and commas,
 * with `\"` and `\\` escapes (any other backslash is kept literally, so paths stay readable).
 * Problems (unterminated quote, empty quoted item) are appended to `problems`.
 */
export function parseList(value: string, problems: Problem[]): ListItem[] {
  const items: ListItem[] = [];
  const isSep = (c: string | undefined): boolean => c === ',' || (c !== undefined && /\s/.test(c));
  let i = 0;
  while (i < value.length) {
    if (isSep(value[i])) {
      i++;
      continue;
    }
    const start = i;
    if (value[i] !== '"') {
      while (i < value.length && !isSep(value[i])) i++;
      items.push({ value: value.slice(start, i), offset: start, length: i - start });
      continue;
    }
    let text = '';
    let closed = false;
    for (i++; i < value.length; i++) {
      const c = value[i];
      if (c === '"') {
        closed = true;
        i++;
        break;
      }
      const next = value[i + 1];
      if (c === '\\' && (next === '"' || next === '\\')) {
        text += next;
        i++;
      } else text += c;
    }
    if (!closed) {
      problems.push({ code: 'manifest-syntax', offset: start, length: 1, message: 'unterminated quoted item: expected a closing "' });
      return items;
    }
    if (text === '') {
      problems.push({ code: 'invalid-value', offset: start, length: i - start, message: 'empty quoted item: expected a name or path between the quotes' });
      continue;
    }
    items.push({ value: text, offset: start, length: i - start });
  }
  return items;
}

const GLOB_CHARS = /[*?[\]{}]/;

/**
 * Normalises a manifest path with POSIX semantics (`./a//b/` → `a/b`) and enforces where it may
 * point. Relative paths must stay inside the workspace; absolute paths are inputs only, and only
 * when allowed, because an absolute path makes the cache key depend on the machine.
 */
export function parsePath(
  raw: string,
  kind: 'input' | 'output',
  allowAbsoluteInputs: boolean,
): Result<string, { code: DiagnosticCode; message: string; notes?: string[] }> {
  const absolute = raw.startsWith('/');
  if (absolute && kind === 'output') {
    return err({ code: 'path-escape', message: `absolute output path "${raw}" is not allowed: outputs must be inside the workspace` });
  }
  if (absolute && !allowAbsoluteInputs) {
    return err({
      code: 'path-escape',
      message: `absolute input path "${raw}" is not allowed (pass --allow-absolute-inputs to permit absolute inputs)`,
    });
  }
  const parts: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') parts.push(part);
    else if (parts.length > 0) parts.pop();
    // `/..` is `/` in POSIX; a relative `..` past the top leaves the workspace.
    else if (!absolute) return err({ code: 'path-escape', message: `${kind} path "${raw}" escapes the workspace` });
  }
  if (absolute) return ok(`/${parts.join('/')}`);
  if (parts.length === 0) {
    // The whole workspace as an input would include the task's own outputs and the cache.
    return err({ code: 'invalid-value', message: `${kind} path "${raw}" names the whole workspace: list the files or directories instead` });
  }
  const path = parts.join('/');
  if (kind === 'output') {
    const glob = GLOB_CHARS.exec(path);
    if (glob !== null) {
      return err({ code: 'invalid-value', message: `output path "${raw}" contains the glob character "${glob[0]}": outputs must be exact paths` });
    }
    if (parts[0] === '.reprovm') {
      return err({ code: 'invalid-value', message: `output path "${raw}" is inside .reprovm/, which is reserved for the cache` });
    }
  }
  return ok(path);
}

/** setTimeout fires at once for larger delays, so a longer timeout could never work. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `90` (seconds), `90s`, `1500ms`, `2m`, `1h`, `1m30s` → milliseconds (> 0). */
export function parseDuration(text: string): Result<number, string> {
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else if (/^(\d+(ms|h|m|s))+$/.test(text)) {
    ms = 0;
    for (const m of text.matchAll(/(\d+)(ms|h|m|s)/g)) ms += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
  } else return err(`invalid timeout "${text}": expected a duration such as 90s, 1500ms, 2m`);
  if (ms <= 0) return err(`invalid timeout "${text}": a timeout must be greater than 0`);
  if (ms > MAX_TIMEOUT_MS) return err(`invalid timeout "${text}": the longest timeout is 596h`);
  return ok(ms);
}

/** A whole number of extra attempts, 0..100 (more is almost surely a typo). */
export function parseRetries(text: string): Result<number, string> {
  const n = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  return n <= 100 ? ok(n) : err(`invalid retries "${text}": expected a whole number from 0 to 100`);
}

const TRUE = new Set(['true', 'yes', '1', 'on']);
const FALSE = new Set(['false', 'no', '0', 'off']);

/** The `cache` flag: true/false, yes/no, 1/0, on/off, in any case. */
export function parseBool(text: string): Result<boolean, string> {
  const lower = text.toLowerCase();
  if (TRUE.has(lower)) return ok(true);
  if (FALSE.has(lower)) return ok(false);
  return err(`invalid cache "${text}": expected true or false (also yes/no, on/off, 1/0)`);
}
