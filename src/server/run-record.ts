/**
 * What the API says about a run (the `RunInfo` / `RunDetail` schemas of openapi.yaml) and how
 * it is derived from the run's event stream: a run's per-task results and summary are nothing
 * but a fold over the NDJSON events its child process printed.
 */
import type { RunEvent, RunSummary } from '../events/events.js';

/** The life of a run: queued → running → one of the final states. */
export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'aborted';

/** A run has ended when its status is one of these; it never changes again. */
export function isFinal(status: RunStatus): boolean {
  return status !== 'queued' && status !== 'running';
}

/** What was asked for (POST /runs, a schedule). */
export interface RunRequest {
  readonly targets: readonly string[];
  readonly force: boolean;
  readonly jobs: number | null;
  readonly keepGoing: boolean;
}

/** A run as lists show it (`RunInfo` in openapi.yaml). */
export interface RunInfo extends RunRequest {
  readonly id: string;
  readonly workspace: string;
  status: RunStatus;
  /** `api:<token name>` or `schedule:<entry name>`. */
  readonly trigger: string;
  readonly createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
  message: string | null;
}

/** One finished task of a run. */
export interface RunTaskResult {
  readonly name: string;
  readonly status: 'executed' | 'cached' | 'failed' | 'skipped';
  readonly key: string | null;
  readonly resultHash: string | null;
  readonly durationMs: number;
  readonly cache: Record<string, unknown> | null;
  readonly failure: Record<string, unknown> | null;
  readonly skippedBecause: string | null;
}

/** A run with its per-task results and summary (`RunDetail` in openapi.yaml). */
export interface RunDetail extends RunInfo {
  tasks: RunTaskResult[];
  summary: RunSummary | null;
}

/** The RunInfo part of a detail (what lists show). */
export function infoOf(d: RunDetail): RunInfo {
  const { tasks: _t, summary: _s, ...info } = d;
  return info;
}

/** Folds one event into the run's task results and summary. */
export function applyEvent(d: RunDetail, e: RunEvent): void {
  if (e.type === 'task-finished') {
    d.tasks.push({
      name: e.task,
      status: e.status,
      key: e.key ?? null,
      resultHash: e.resultHash ?? null,
      durationMs: e.durationMs,
      cache: e.cache ? { ...e.cache } : null,
      failure: e.failure ? { ...e.failure } : null,
      skippedBecause: e.skippedBecause ?? null,
    });
  } else if (e.type === 'run-finished') {
    d.summary = e.summary;
  }
}

/** Parses one NDJSON line of a child's output; undefined for anything that is not an event. */
export function parseEventLine(line: string): RunEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as unknown;
    return typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string' ? (v as RunEvent) : undefined;
  } catch {
    return undefined;
  }
}

/** A new unique, sortable run id: UTC time to the millisecond plus randomness. */
export function newRunId(now: Date, random: string): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace('.', '').replace('T', '-').replace('Z', '');
  return `${t}-${random}`;
}

/** A new queued run. */
export function newRunDetail(workspace: string, request: RunRequest, trigger: string, now: Date, random: string): RunDetail {
  return {
    id: newRunId(now, random),
    workspace,
    status: 'queued',
    ...request,
    targets: [...request.targets],
    trigger,
    createdAt: now.toISOString(),
    startedAt: null,
    finishedAt: null,
    exitCode: null,
    message: null,
    tasks: [],
    summary: null,
  };
}

/**
 * How a run ended, from its child's exit: cancelled when a cancel was asked for (whatever the
 * exit), succeeded on 0, failed otherwise; for exits other than 1 (a task failed) the message
 * says why, from the child's stderr (`reprovm: error: ...`, a manifest diagnostic).
 */
export function runOutcome(end: {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  error?: string;
  cancelled: string | undefined;
  stderr: () => string;
}): { status: RunStatus; message: string | null } {
  if (end.cancelled !== undefined) return { status: 'cancelled', message: end.cancelled };
  if (end.exitCode === 0) return { status: 'succeeded', message: null };
  if (end.exitCode === 1) return { status: 'failed', message: null };
  const lines = end.stderr().split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const why = end.error ?? lines.find((l) => /\berror\b/.test(l)) ?? lines.at(-1);
  return { status: 'failed', message: why ?? (end.signal ? `the run process was killed by ${end.signal}` : `the run process exited with code ${end.exitCode}`) };
}
