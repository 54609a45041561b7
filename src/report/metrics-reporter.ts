/**
 * Prometheus metrics of runs, fed by the run event stream. One {@link RunMetrics} owns one
 * prom-client registry (never the global one), so a daemon, a one-shot run that pushes to a
 * Pushgateway and a test can each have their own. Load this module with a dynamic `import()`:
 * prom-client is only paid for by the commands that use it.
 *
 * Label conventions:
 * - `workspace` on every run and task metric (the workspace directory, or the name the server
 *   gives it);
 * - `reprovm_cache_lookups_total{result,source,reason}`: a hit has `reason="none"`, a miss has
 *   `source="none"`, so both label sets are always complete;
 * - the `task` label is bounded: after {@link MetricsOptions.maxTaskLabels} distinct task names
 *   per workspace, further tasks are counted under `task="_other"` (a manifest of 10,000 tasks
 *   must not make 10,000 × 12 histogram series).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Reporter } from '../events/bus.js';
import type { RunEvent } from '../events/events.js';

/** The metrics of runs: a registry, a reporter per workspace and the gauges set from outside. */
export interface RunMetrics {
  readonly registry: Registry;
  /** A reporter that counts the events of runs in `workspace`. */
  reporter(workspace: string): Reporter;
  /** Runs waiting in the server's queue of `workspace`. */
  setQueueDepth(workspace: string, n: number): void;
  /** Objects and stored (compressed) bytes in the local CAS. */
  setCasStats(stats: { objects: number; bytes: number }): void;
  /**
   * Counts one finished run (reprovm_runs_total, reprovm_run_duration_seconds) with the status
   * the caller knows; used with `runsFromEvents: false` by the server, whose run statuses
   * (cancelled, aborted, a run that failed before it started) are not all in the event stream.
   */
  recordRun(workspace: string, status: string, seconds: number): void;
}

export interface MetricsOptions {
  /** The standard process_ and nodejs_ metrics (default true; off for Pushgateway pushes). */
  readonly defaultMetrics?: boolean;
  /** Distinct task names per workspace before `task="_other"` (default 200). */
  readonly maxTaskLabels?: number;
  /** Count runs from their run-finished event (default true); false: only via recordRun. */
  readonly runsFromEvents?: boolean;
}

/** Label value for tasks beyond the cardinality bound. */
export const OTHER_TASK = '_other';

const DEFAULT_MAX_TASK_LABELS = 200;
// Tasks range from a few ms (restores) to long compiles; runs from a no-op to an hour.
const TASK_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
const RUN_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** Creates a registry with every reprovm metric registered (and, by default, process metrics). */
export function createMetrics(opts: MetricsOptions = {}): RunMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const maxTaskLabels = opts.maxTaskLabels ?? DEFAULT_MAX_TASK_LABELS;
  const registers = [registry];

  const tasks = new Counter({ name: 'reprovm_tasks_total', help: 'Finished tasks by status (executed, cached, failed, skipped).', labelNames: ['workspace', 'status'] as const, registers });
  const lookups = new Counter({
    name: 'reprovm_cache_lookups_total',
    help: 'Cache lookups by result (hit, miss), source of a hit (local, remote; none for a miss) and reason of a miss (none for a hit).',
    labelNames: ['workspace', 'result', 'source', 'reason'] as const,
    registers,
  });
  const taskDuration = new Histogram({
    name: 'reprovm_task_duration_seconds',
    help: `Task durations (executed: the command; cached: the restore), by task; more than ${maxTaskLabels} task names per workspace are grouped as task="${OTHER_TASK}".`,
    labelNames: ['workspace', 'task', 'status'] as const,
    buckets: TASK_BUCKETS,
    registers,
  });
  const runDuration = new Histogram({ name: 'reprovm_run_duration_seconds', help: 'Wall time of runs.', labelNames: ['workspace', 'status'] as const, buckets: RUN_BUCKETS, registers });
  const runs = new Counter({ name: 'reprovm_runs_total', help: 'Finished runs by status (CLI: succeeded, failed, interrupted; server: the API run status).', labelNames: ['workspace', 'status'] as const, registers });
  const casObjects = new Gauge({ name: 'reprovm_cas_objects', help: 'Objects in the local content-addressed store.', registers });
  const casBytes = new Gauge({ name: 'reprovm_cas_bytes', help: 'Bytes stored (compressed) in the local content-addressed store.', registers });
  const remoteBytes = new Counter({ name: 'reprovm_remote_bytes_total', help: 'Bytes moved to (upload) and from (download) the remote cache.', labelNames: ['workspace', 'direction'] as const, registers });
  const queueDepth = new Gauge({ name: 'reprovm_queue_depth', help: 'Runs waiting in the server queue.', labelNames: ['workspace'] as const, registers });

  // Per workspace: the task names that got their own label, in order of first appearance.
  const taskLabels = new Map<string, Set<string>>();
  const taskLabel = (workspace: string, task: string): string => {
    let seen = taskLabels.get(workspace);
    if (!seen) taskLabels.set(workspace, (seen = new Set()));
    if (seen.has(task)) return task;
    if (seen.size >= maxTaskLabels) return OTHER_TASK;
    seen.add(task);
    return task;
  };

  const count = (workspace: string, event: RunEvent): void => {
    switch (event.type) {
      case 'task-finished': {
        tasks.inc({ workspace, status: event.status });
        const cache = event.cache;
        if (cache?.result === 'hit') lookups.inc({ workspace, result: 'hit', source: cache.source, reason: 'none' });
        else if (cache) lookups.inc({ workspace, result: 'miss', source: 'none', reason: cache.reason });
        if (event.status !== 'skipped') {
          taskDuration.observe({ workspace, task: taskLabel(workspace, event.task), status: event.status }, event.durationMs / 1000);
        }
        break;
      }
      case 'remote-transfer':
        remoteBytes.inc({ workspace, direction: event.direction }, event.bytes);
        break;
      case 'run-finished': {
        if (opts.runsFromEvents === false) break;
        const status = event.summary.interrupted ? 'interrupted' : event.exitCode === 0 ? 'succeeded' : 'failed';
        runs.inc({ workspace, status });
        runDuration.observe({ workspace, status }, event.summary.wallMs / 1000);
        break;
      }
      default:
        break;
    }
  };

  return {
    registry,
    reporter: (workspace) => ({ onEvent: (event) => count(workspace, event) }),
    setQueueDepth: (workspace, n) => queueDepth.set({ workspace }, n),
    setCasStats: (stats) => {
      casObjects.set(stats.objects);
      casBytes.set(stats.bytes);
    },
    recordRun: (workspace, status, seconds) => {
      runs.inc({ workspace, status });
      runDuration.observe({ workspace, status }, seconds);
    },
  };
}
