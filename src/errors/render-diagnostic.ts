import { distance } from 'fastest-levenshtein';
import type { Diagnostic, SourceSpan } from './diagnostic.js';

/** Rendering options. `color` adds ANSI codes; callers decide (TTY, NO_COLOR, --color). */
export interface RenderOptions {
  readonly color: boolean;
}

const RESET = '\x1b[0m';
const BOLD = '\x1b[1m';
const RED = '\x1b[31m';
const YELLOW = '\x1b[33m';
const GREEN = '\x1b[32m';

/**
 * The candidate closest to `word` by edit distance, if it is close enough to be a plausible typo:
 * distance <= max(2, floor(word.length / 3)). Ties go to the earlier candidate so suggestions are
 * stable across runs. Lives here because every "did you mean" note in the project goes through it.
 */
export function suggestClosest(word: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.max(2, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const d = distance(word, candidate);
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** `did you mean "x"?` for the closest candidate, or undefined when none is close. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const best = suggestClosest(word, candidates);
  return best === undefined ? undefined : `did you mean "${best}"?`;
}

/** `file:line:col` — the form used both in headers and in "first defined at" notes. */
export function formatSpan(span: SourceSpan): string {
  return `${span.file}:${span.line}:${span.col}`;
}

/**
 * One diagnostic as text, without a trailing newline:
 *
 * ```
 * manifest.txt:12:10: error: task "test" depends on unknown task "biuld"
 *    12 |   deps = biuld
 *       |          ^^^^^
 *   did you mean "build"?
 * ```
 *
 * Gutter rule: one space, then the line number right-aligned in max(4, digits) columns, then ` | `.
 * The source snippet is left out when `sources` lacks the file or the line (the header still
 * points at the spot). Without a span the header is `reprovm: error: message`.
 */
export function renderDiagnostic(d: Diagnostic, sources: ReadonlyMap<string, string>, opts: RenderOptions): string {
  const paint = (code: string, text: string): string => (opts.color ? `${code}${text}${RESET}` : text);
  const severity = paint(d.severity === 'error' ? RED : YELLOW, d.severity);
  const where = d.span === undefined ? 'reprovm' : formatSpan(d.span);
  const out = [`${paint(BOLD, where)}: ${severity}: ${d.message}`];
  if (d.span !== undefined) out.push(...snippet(d.span, sources, paint));
  for (const note of d.notes ?? []) out.push(`  ${note}`);
  return out.join('\n');
}

/**
 * All diagnostics in the given order, then a count line (`2 errors`, `1 error, 1 warning`).
 * Empty input renders as the empty string. No trailing newline.
 */
export function renderDiagnostics(
  ds: readonly Diagnostic[],
  sources: ReadonlyMap<string, string>,
  opts: RenderOptions,
): string {
  if (ds.length === 0) return '';
  const errors = ds.filter((d) => d.severity === 'error').length;
  const warnings = ds.length - errors;
  const counts: string[] = [];
  if (errors > 0) counts.push(plural(errors, 'error'));
  if (warnings > 0) counts.push(plural(warnings, 'warning'));
  return [...ds.map((d) => renderDiagnostic(d, sources, opts)), counts.join(', ')].join('\n');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The source line and caret line for a span; empty when the line is not available. */
function snippet(
  span: SourceSpan,
  sources: ReadonlyMap<string, string>,
  paint: (code: string, text: string) => string,
): string[] {
  const text = sources.get(span.file);
  if (text === undefined) return [];
  // Same line splitting as the parser: a BOM is not part of column 1, CRLF ends a line like LF.
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  const raw = lines[span.line - 1];
  if (raw === undefined) return [];
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  const number = String(span.line);
  const width = Math.max(4, number.length);
  const gutter = ` ${number.padStart(width)} |`;
  const blank = ` ${' '.repeat(width)} |`;
  // Tabs stay tabs in the padding so the caret lines up however the terminal expands them.
  const pad = Array.from(line.slice(0, Math.max(0, span.col - 1)), (c) => (c === '\t' ? '\t' : ' ')).join('');
  const padFull = pad + ' '.repeat(Math.max(0, span.col - 1 - line.length));
  const carets = paint(GREEN, '^'.repeat(Math.max(1, span.length)));
  return [line === '' ? gutter : `${gutter} ${line}`, `${blank} ${padFull}${carets}`];
}
