import { describeVerdictProblem, type ReproVerdict } from '../exec/verify-repro.js';
import { plural, type Style } from './style.js';

/** Verdict counts for the summary line of `reprovm verify-repro`. */
export interface ReproCounts {
  reproducible: number;
  notReproducible: number;
  failed: number;
  notCached: number;
}

/** Empty counts. */
export function emptyReproCounts(): ReproCounts {
  return { reproducible: 0, notReproducible: 0, failed: 0, notCached: 0 };
}

/** Adds one verdict to `counts`. */
export function countVerdict(counts: ReproCounts, v: ReproVerdict): void {
  if (v.status === 'reproducible') counts.reproducible += 1;
  else if (v.status === 'not-reproducible') counts.notReproducible += 1;
  else if (v.status === 'failed') counts.failed += 1;
  else counts.notCached += 1;
}

/**
 * For a person, one line per task:
 *
 * ```
 * [build] reproducible (2 runs)
 * [stamp] NOT reproducible: out.txt differs at line 3: "a" vs "b"
 * [gen] FAILED: task "gen" failed with exit code 1
 * [use] not cached, skipped (no cached result for this key)
 * ```
 */
export function reproText(v: ReproVerdict, style: Style): string {
  const tag = style.bold(`[${v.task}]`);
  switch (v.status) {
    case 'reproducible':
      return `${tag} ${style.green('reproducible')} (${plural(v.runs, 'run')})\n`;
    case 'not-reproducible':
      return `${tag} ${style.red('NOT reproducible')}: ${describeVerdictProblem(v) ?? ''}\n`;
    case 'failed':
      return `${tag} ${style.red('FAILED')}: ${describeVerdictProblem(v) ?? ''}\n`;
    case 'not-cached':
      return `${tag} ${style.dim(`not cached, skipped (${v.reason})`)}\n`;
  }
}

/**
 * For a program, one JSON object per line: `{task, status, key?, runs?, run?, differences?,
 * failure?, reason?}`; `differences` has, per output, `path`, `problem`, `cachedDigest`,
 * `newDigest` and, for text, `firstDifference: {line, cached, new}`.
 */
export function reproJson(v: ReproVerdict): string {
  return `${JSON.stringify(v)}\n`;
}

/** The closing line, e.g. `reprovm: verify-repro: 2 reproducible, 1 NOT reproducible, 0 failed, 1 not cached (skipped)`. */
export function reproSummary(c: ReproCounts, style: Style): string {
  const bad = c.notReproducible > 0 || c.failed > 0;
  const head = bad ? style.red('verify-repro') : style.green('verify-repro');
  return `reprovm: ${head}: ${c.reproducible} reproducible, ${c.notReproducible} NOT reproducible, ${c.failed} failed, ${c.notCached} not cached (skipped)\n`;
}
