/**
 * What a notification says about a run: one plain object from which the generic webhook body
 * and the Slack and Discord messages are made. Built by the notify reporter from run events, or
 * by `notify test` as a sample.
 */

/** How a run ended, as notifications name it. */
export type RunStatus = 'success' | 'failure' | 'interrupted' | 'test';

/** The facts of one finished run; plain JSON (it is also the generic webhook body). */
export interface RunReport {
  /** `run.finished`, or `test` for `notify test`. */
  readonly event: 'run.finished' | 'test';
  readonly runId: string;
  readonly workspace: string;
  readonly status: RunStatus;
  readonly exitCode: number;
  readonly summary: {
    readonly total: number;
    readonly executed: number;
    readonly cached: number;
    readonly failed: number;
    readonly skipped: number;
  };
  /** Names of failed tasks (at most {@link MAX_FAILED_LISTED}; `failedTasksTruncated` says if more). */
  readonly failedTasks: readonly string[];
  readonly failedTasksTruncated: boolean;
  readonly durationMs: number;
  /** cached / (cached + executed), 0..1; null when no task was executed or restored. */
  readonly cacheHitRate: number | null;
  readonly host: string;
  readonly version: string;
  readonly time: string;
}

/** Failed task names listed in a notification. */
export const MAX_FAILED_LISTED = 50;

/** The status word of an exit code. */
export function statusOf(exitCode: number): RunStatus {
  if (exitCode === 0) return 'success';
  return exitCode === 130 || exitCode === 143 ? 'interrupted' : 'failure';
}

/** The cache hit rate of a summary. */
export function hitRate(s: { executed: number; cached: number }): number | null {
  const n = s.executed + s.cached;
  return n === 0 ? null : s.cached / n;
}

/** `1.2s`, `3m 4s`. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const s = Math.round(ms / 1000);
  return s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** `87%` or `n/a`. */
export function formatRate(rate: number | null): string {
  return rate === null ? 'n/a' : `${Math.round(rate * 100)}%`;
}

/** One line: `reprovm: run failed in my-ws: 2 of 10 tasks failed (1.20s)`. */
export function headline(r: RunReport): string {
  const ws = workspaceName(r.workspace);
  const s = r.summary;
  switch (r.status) {
    case 'test':
      return `reprovm: test notification from ${r.host}`;
    case 'success':
      return `reprovm: run succeeded in ${ws}: ${s.total} tasks, ${s.executed} executed, ${s.cached} from cache (${formatDuration(r.durationMs)})`;
    case 'interrupted':
      return `reprovm: run interrupted in ${ws} after ${formatDuration(r.durationMs)}`;
    case 'failure':
      return `reprovm: run failed in ${ws}: ${s.failed} of ${s.total} tasks failed (${formatDuration(r.durationMs)})`;
  }
}

/** The last path component of a workspace, for titles (the full path is in the details). */
export function workspaceName(workspace: string): string {
  const parts = workspace.split('/').filter((p) => p !== '');
  return parts[parts.length - 1] ?? workspace;
}

/** Shortens `text` to `max` characters with an ellipsis (chat services reject longer fields). */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
