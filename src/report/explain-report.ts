import { renderReason, type ExplainReason } from '../hash/explain.js';
import type { Style } from './style.js';

/** One task as `reprovm explain` reports it (the shape of a plan from src/exec/plan.ts). */
export interface ExplainedTask {
  readonly task: string;
  readonly action: 'run' | 'restore' | 'up-to-date';
  readonly key?: string;
  readonly reasons: readonly ExplainReason[];
}

/**
 * For a person: the task and what a run would do, then every reason indented by two spaces
 * (`command changed` with its diff lines indented further).
 *
 * ```
 * [build] would run
 *   input hello.c changed (digest 1a2b3c4d…→5e6f7a8b…)
 * ```
 */
export function explainText(t: ExplainedTask, style: Style): string {
  const verb = t.action === 'run' ? style.yellow('would run') : t.action === 'restore' ? style.cyan('would restore') : style.green('up to date');
  const lines = [`${style.bold(`[${t.task}]`)} ${verb}`];
  for (const r of t.reasons) for (const line of renderReason(r).split('\n')) lines.push(`  ${line}`);
  return `${lines.join('\n')}\n`;
}

/**
 * For a program: one JSON object per line, `{task, action, key, reasons}`; `key` is null when
 * it cannot be computed yet; every reason has its `kind`, its fields and its `text`.
 */
export function explainJson(t: ExplainedTask): string {
  const reasons = t.reasons.map((r) => ({ ...r, text: renderReason(r) }));
  return `${JSON.stringify({ task: t.task, action: t.action, key: t.key ?? null, reasons })}\n`;
}
