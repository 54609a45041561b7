/**
 * Turns the run event stream into audit entries: run started/finished, task started/succeeded/
 * failed/restored, cache stored (an executed task's outputs went into the cache) and cache
 * corrupt (a lookup that found a corrupt record or object, which was quarantined), remote push/
 * pull (`remote-transfer` events) and remote auth failures / rejected signatures (`warning`
 * events with `remote.kind`). Task output lines are never audited.
 */
import type { Reporter } from '../events/bus.js';
import type { RunEvent } from '../events/events.js';
import type { AuditEventType } from '../ops/audit-format.js';

/** Where entries go: an `AuditLog` or anything with its `append`. */
export interface AuditSink {
  append(type: AuditEventType, details: Record<string, unknown>): void;
}

export class AuditReporter implements Reporter {
  readonly #sink: AuditSink;
  /** Tasks whose cache is disabled (`cache = false`): their executions store nothing. */
  readonly #uncached: ReadonlySet<string>;
  #runId = '';
  #workspace = '';
  /** The last warning per task, to say what was corrupt. */
  readonly #lastWarning = new Map<string, string>();

  constructor(sink: AuditSink, opts: { uncachedTasks?: Iterable<string> } = {}) {
    this.#sink = sink;
    this.#uncached = new Set(opts.uncachedTasks ?? []);
  }

  onEvent(event: RunEvent): void {
    switch (event.type) {
      case 'run-started':
        if (event.dryRun) return;
        this.#runId = event.runId;
        this.#workspace = event.workspace;
        this.#sink.append('run.started', { runId: event.runId, workspace: event.workspace, tasks: event.tasks.length, jobs: event.jobs });
        return;
      case 'task-started':
        this.#sink.append('task.started', { runId: this.#runId, task: event.task, key: event.key, attempt: event.attempt, ...(event.reason ? { reason: event.reason } : {}) });
        return;
      case 'warning':
        if (event.task !== undefined) this.#lastWarning.set(event.task, event.message);
        if (event.remote?.kind === 'auth' || event.remote?.kind === 'signature') {
          this.#sink.append(event.remote.kind === 'auth' ? 'remote.auth-failure' : 'remote.signature-rejected', {
            runId: this.#runId,
            ...(event.task !== undefined ? { task: event.task } : {}),
            message: event.message,
          });
        }
        return;
      case 'remote-transfer':
        this.#sink.append(event.direction === 'upload' ? 'remote.push' : 'remote.pull', {
          runId: this.#runId,
          task: event.task,
          key: event.key,
          blobs: event.blobs,
          bytes: event.bytes,
          durationMs: event.durationMs,
        });
        return;
      case 'task-finished':
        this.#taskFinished(event);
        return;
      case 'run-finished':
        if (!this.#runId) return;
        this.#sink.append('run.finished', { runId: event.runId, workspace: this.#workspace, exitCode: event.exitCode, ...event.summary });
        return;
      default:
        return;
    }
  }

  #taskFinished(event: Extract<RunEvent, { type: 'task-finished' }>): void {
    const base = { runId: this.#runId, task: event.task, ...(event.key ? { key: event.key } : {}) };
    if (event.cache?.result === 'miss' && event.cache.reason === 'corrupt') {
      const message = this.#lastWarning.get(event.task);
      this.#sink.append('cache.corrupt', { ...base, ...(message ? { message } : {}) });
    }
    switch (event.status) {
      case 'cached':
        // Up to date: nothing in the workspace changed, and a no-op run of a big graph would
        // otherwise add one entry per task; run.finished carries the counts.
        if (event.cache?.result === 'hit' && event.cache.upToDate && event.cache.filesRestored === 0 && event.cache.bytesRestored === 0 && !('bytesDownloaded' in event.cache)) return;
        if (event.cache?.result === 'hit') {
          const c = event.cache;
          this.#sink.append('task.restored', { ...base, resultHash: event.resultHash, source: c.source, upToDate: c.upToDate, filesRestored: c.filesRestored, bytesRestored: c.bytesRestored });
        } else this.#sink.append('task.restored', { ...base, resultHash: event.resultHash });
        return;
      case 'executed':
        this.#sink.append('task.succeeded', { ...base, resultHash: event.resultHash, durationMs: event.durationMs });
        if (!this.#uncached.has(event.task)) {
          this.#sink.append('cache.stored', { ...base, resultHash: event.resultHash, outputs: event.outputs?.length ?? 0 });
        }
        return;
      case 'failed':
        this.#sink.append('task.failed', {
          ...base,
          durationMs: event.durationMs,
          reason: event.failure?.reason,
          ...(event.failure?.exitCode !== undefined ? { exitCode: event.failure.exitCode } : {}),
          ...(event.failure?.signal !== undefined ? { signal: event.failure.signal } : {}),
        });
        return;
      case 'skipped':
        return;
    }
  }
}
