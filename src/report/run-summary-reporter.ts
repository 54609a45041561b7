import type { Reporter } from '../events/bus.js';
import type { MissReason, RunEvent, TaskFailure, TaskOutputRef, TaskStatus } from '../events/events.js';
import { writeReport } from './write-report.js';

/**
 * Version of the `--summary` document (schemas/run-summary.schema.json). Bumped only for
 * changes a reader could trip over (a field removed, renamed or retyped); fields may be added
 * within a version.
 */
export const RUN_SUMMARY_SCHEMA_VERSION = 1;

/** One task in the run summary. */
export interface TaskSummary {
  readonly name: string;
  readonly status: TaskStatus;
  readonly key: string | null;
  readonly resultHash: string | null;
  /** Where a cached task came from (`local`); null when it was not a cache hit. */
  readonly cacheSource: 'local' | 'remote' | null;
  /** Cache hits: true when the workspace already held the outputs and nothing was restored. */
  readonly upToDate: boolean | null;
  /** Why the cache did not answer, for tasks that ran (or tried to); null otherwise. */
  readonly missReason: MissReason | null;
  /** Command attempts (more than 1 after retries; 0 when no command ran). */
  readonly attempts: number;
  readonly durationMs: number;
  /** Cache hits: the duration of the original execution; else 0. */
  readonly savedMs: number;
  readonly failure: TaskFailure | null;
  readonly skippedBecause: string | null;
  readonly outputs: readonly TaskOutputRef[];
}

/** The `--summary` document. */
export interface RunSummaryDocument {
  readonly schemaVersion: typeof RUN_SUMMARY_SCHEMA_VERSION;
  readonly tool: { readonly name: 'reprovm'; readonly version: string };
  readonly runId: string;
  readonly workspace: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly wallMs: number;
  readonly exitCode: number;
  readonly interrupted: boolean;
  readonly jobs: number;
  readonly counts: { readonly total: number; readonly executed: number; readonly cached: number; readonly failed: number; readonly skipped: number };
  readonly savedMs: number;
  readonly tasks: readonly TaskSummary[];
}

type Started = Extract<RunEvent, { type: 'run-started' }>;
type Finished = Extract<RunEvent, { type: 'task-finished' }>;

/**
 * `--summary FILE`: a JSON document of the whole run, written atomically when the run ends
 * (failed and interrupted runs included). Tasks are listed in the run's (topological) order.
 */
export class RunSummaryReporter implements Reporter {
  readonly #file: string;
  readonly #version: string;
  #started: Started | undefined;
  readonly #attempts = new Map<string, { count: number; reason: MissReason | undefined }>();
  readonly #finished = new Map<string, Finished>();
  #document: RunSummaryDocument | undefined;

  constructor(file: string, opts: { version: string }) {
    this.#file = file;
    this.#version = opts.version;
  }

  onEvent(e: RunEvent): void {
    switch (e.type) {
      case 'run-started':
        this.#started = e;
        break;
      case 'task-started':
        this.#attempts.set(e.task, { count: e.attempt, reason: e.reason });
        break;
      case 'task-finished':
        this.#finished.set(e.task, e);
        break;
      case 'run-finished':
        if (this.#started) this.#document = this.#build(this.#started, e);
        break;
      default:
        break;
    }
  }

  async close(): Promise<void> {
    if (this.#document) await writeReport(this.#file, `${JSON.stringify(this.#document, null, 2)}\n`);
  }

  #build(run: Started, end: Extract<RunEvent, { type: 'run-finished' }>): RunSummaryDocument {
    const s = end.summary;
    const tasks = run.tasks.flatMap((name) => {
      const f = this.#finished.get(name);
      return f ? [this.#task(f)] : [];
    });
    return {
      schemaVersion: RUN_SUMMARY_SCHEMA_VERSION,
      tool: { name: 'reprovm', version: this.#version },
      runId: run.runId,
      workspace: run.workspace,
      startedAt: run.time,
      finishedAt: end.time,
      wallMs: s.wallMs,
      exitCode: end.exitCode,
      interrupted: s.interrupted,
      jobs: run.jobs,
      counts: { total: s.total, executed: s.executed, cached: s.cached, failed: s.failed, skipped: s.skipped },
      savedMs: s.savedMs,
      tasks,
    };
  }

  #task(f: Finished): TaskSummary {
    const attempts = this.#attempts.get(f.task);
    const hit = f.cache?.result === 'hit' ? f.cache : undefined;
    const missReason = f.cache?.result === 'miss' ? f.cache.reason : (attempts?.reason ?? null);
    return {
      name: f.task,
      status: f.status,
      key: f.key ?? null,
      resultHash: f.resultHash ?? null,
      cacheSource: hit ? hit.source : null,
      upToDate: hit ? hit.upToDate : null,
      missReason: hit ? null : missReason,
      attempts: attempts?.count ?? 0,
      durationMs: f.durationMs,
      savedMs: hit ? hit.savedMs : 0,
      failure: f.failure ?? null,
      skippedBecause: f.skippedBecause ?? null,
      outputs: f.outputs ?? [],
    };
  }
}
