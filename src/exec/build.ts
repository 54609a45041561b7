import { randomUUID } from 'node:crypto';
import { ActionCache, DEFAULT_INLINE_BYTES } from '../cas/action-cache.js';
import type { CodecName } from '../cas/codec.js';
import { ObjectStore, type DirectIo } from '../cas/object-store.js';
import type { EventBus } from '../events/bus.js';
import { eventTime, type RunSummary, type TaskStatus } from '../events/events.js';
import { criticalPathPriority } from '../graph/order.js';
import type { RemoteTier } from '../cache/tiered-cache.js';
import type { TaskGraph } from '../graph/types.js';
import type { ResultHash } from '../hash/digest.js';
import { FileHasher, StatMemo } from '../hash/file-hasher.js';
import { removeUpToDateStamp, writeUpToDateStamp } from '../state/up-to-date-stamp.js';
import { loadWorkspaceState, saveWorkspaceState } from '../state/workspace-state.js';
import { syncTree } from '../util/atomic-write.js';
import type { ProcessGroups } from './process-runner.js';
import { PrioritySlots } from './priority-slots.js';
import { runGraph } from './scheduler.js';
import { createCaptureDir } from './capture-dir.js';
import { PreviousRecords } from './explain-task.js';
import { HermeticityMonitor, ignoredPaths, type StrictMode } from './hermeticity.js';
import { passThroughEnvironment } from './task-env.js';
import type { RunContext } from './run-context.js';
import { runTask } from './task-runner.js';
import { TokenBucket } from './token-bucket.js';
import { upToDateStamp } from './up-to-date-proof.js';

export interface BuildRequest {
  readonly workspace: string;
  readonly graph: TaskGraph;
  /** Tasks to consider, in topological order (targets plus their transitive dependencies). */
  readonly selected: readonly string[];
  readonly cacheDir: string;
  readonly jobs: number;
  readonly rate: number;
  readonly burst: number;
  readonly force: boolean;
  readonly keepGoing: boolean;
  readonly defaultTimeoutMs: number | undefined;
  readonly killGraceMs: number;
  readonly retryBaseMs: number;
  /** Retries of a task whose manifest entry sets none (`[execution] retry_attempts`); default 0. */
  readonly defaultRetries?: number;
  readonly compression: { readonly codec: CodecName; readonly level: number };
  /** Output files and logs up to this size go inside the action record; default 4096, 0 = never. */
  readonly inlineMaxBytes?: number;
  /** Which large new files bypass the page cache (`[cache] direct_io`); default 'outputs'. */
  readonly directIo?: DirectIo;
  /**
   * Durability of cache writes: `always` fsyncs every object and record before it is renamed
   * into place; `batch` writes them without fsync and flushes the cache's file system once at
   * the end of the run; `off` leaves flushing to the kernel.
   */
  readonly fsync: FsyncMode;
  readonly env: NodeJS.ProcessEnv;
  readonly interrupt: AbortSignal;
  readonly groups: ProcessGroups;
  readonly bus: EventBus;
  /** Whether a reporter shows task output while it runs (false with -q). */
  readonly liveOutput: boolean;
  /** `--explain`: every task that executes says why in its `task-started` event. */
  readonly explain?: boolean;
  /** `--strict`: report (warn) or fail (error) tasks that write undeclared paths or modify their inputs. */
  readonly strict?: StrictMode;
  /**
   * The remote cache tier, made by the caller for this run's local store (see
   * `makeRemote`): asked after local misses, fed finished tasks. The caller flushes its uploads.
   */
  readonly remote?: (local: ObjectStore) => RemoteTier;
  /**
   * What an up-to-date stamp of this run is about (state/up-to-date-stamp.ts); without it no
   * stamp is written. Any run removes the workspace's stamp before it changes anything.
   */
  readonly upToDateDigest?: string;
}

export type FsyncMode = 'always' | 'batch' | 'off';

export interface BuildOutcome {
  readonly runId: string;
  readonly summary: RunSummary;
  /** 0 ok, 1 a task failed; interruption is decided by the caller, who knows the signal. */
  readonly failed: boolean;
}

/** The `--strict` monitor: it never walks declared outputs (of any task) nor an in-workspace cache dir. */
function strictMonitor(req: BuildRequest, mode: StrictMode): HermeticityMonitor {
  const byTask = new Map([...req.graph.nodes].map(([name, node]) => [name, node.spec.outputs.map((o) => o.value)] as const));
  const outputsOf = (task: string): readonly string[] => byTask.get(task) ?? [];
  const outputs = [...byTask.values()].flat();
  return new HermeticityMonitor({ workspace: req.workspace, mode, ignored: ignoredPaths(req.workspace, outputs, req.cacheDir), outputsOf, bus: req.bus });
}

/** How many tasks may be checking their cache or restoring at once; commands are limited by -j separately. */
const MAX_IN_FLIGHT = 256;

/**
 * Remote lookups run at most max(2 × jobs, this) tasks ahead of execution (RunContext.remoteAhead):
 * enough to keep the remote's requests in flight (upload_concurrency, default 8) on an all-hit
 * restore, few enough that a cold build does not spend its first second on requests.
 */
const REMOTE_LOOKAHEAD_MIN = 16;

/** Runs the selected tasks of a graph: the engine behind `reprovm <manifest>`. */
export async function runBuild(req: BuildRequest): Promise<BuildOutcome> {
  const wallStart = performance.now();
  const runId = randomUUID();
  removeUpToDateStamp(req.workspace);
  const state = loadWorkspaceState(req.workspace);
  const memo = new StatMemo(state.files);
  const store = new ObjectStore(req.cacheDir, { ...req.compression, fsync: req.fsync === 'always', ...(req.directIo === undefined ? {} : { directIo: req.directIo }) });
  const capture = createCaptureDir(req.workspace);
  await store.init();
  const actions = new ActionCache(req.cacheDir, { fsync: req.fsync === 'always' });
  const ctx: RunContext = {
    workspace: req.workspace,
    graph: req.graph,
    store,
    actions,
    hasher: new FileHasher(memo),
    state,
    bus: req.bus,
    slots: new PrioritySlots(req.jobs),
    bucket: new TokenBucket(req.rate, req.burst),
    groups: req.groups,
    env: req.env,
    force: req.force,
    defaultTimeoutMs: req.defaultTimeoutMs,
    killGraceMs: req.killGraceMs,
    retryBaseMs: req.retryBaseMs,
    defaultRetries: req.defaultRetries ?? 0,
    inlineMax: req.inlineMaxBytes ?? DEFAULT_INLINE_BYTES,
    interrupt: req.interrupt,
    priority: criticalPathPriority(req.graph, req.selected, (n) => state.durations[n]),
    results: new Map<string, ResultHash>(),
    savedMs: 0,
    stateDirty: false,
    liveOutput: req.liveOutput,
    captureDir: capture.dir,
    baseEnv: passThroughEnvironment(req.env),
    ...(req.explain ? { explain: new PreviousRecords(actions, (task) => state.tasks[task]?.key) } : {}),
    ...(req.strict ? { hermeticity: strictMonitor(req, req.strict) } : {}),
    ...(req.remote ? { remote: req.remote(store), remoteAhead: new PrioritySlots(Math.max(2 * req.jobs, REMOTE_LOOKAHEAD_MIN)) } : {}),
  };
  const counts: Record<TaskStatus, number> = { executed: 0, cached: 0, failed: 0, skipped: 0 };
  let upToDate = 0;
  const countReporter = {
    onEvent: (e: import('../events/events.js').RunEvent) => {
      if (e.type === 'task-finished') {
        counts[e.status] += 1;
        if (e.cache?.result === 'hit' && e.cache.upToDate) upToDate += 1;
        if (state.lastStatus[e.task] !== e.status) {
          state.lastStatus[e.task] = e.status;
          ctx.stateDirty = true;
        }
      }
    },
  };
  req.bus.subscribe(countReporter);
  req.bus.emit({
    type: 'run-started',
    time: eventTime(),
    runId,
    workspace: req.workspace,
    tasks: req.selected,
    jobs: req.jobs,
    dryRun: false,
  });

  await runGraph(
    req.selected,
    (n) => req.graph.nodes.get(n)?.deps ?? [],
    { keepGoing: req.keepGoing, interrupt: req.interrupt, maxInFlight: MAX_IN_FLIGHT, priority: ctx.priority },
    {
      run: (name, stop) => runTask(ctx, name, stop),
      skip: (name, because) =>
        req.bus.emit({
          type: 'task-finished',
          time: eventTime(),
          task: name,
          status: 'skipped',
          durationMs: 0,
          skippedBecause: because,
        }),
    },
  );

  capture.remove();
  if (req.fsync === 'batch' && counts.executed > 0) await syncTree(req.cacheDir);
  if (ctx.stateDirty || memo.dirty) await saveWorkspaceState(req.workspace, { ...state, files: memo.toJSON() });
  if (req.upToDateDigest !== undefined && counts.failed + counts.skipped === 0 && !req.interrupt.aborted) {
    const stamp = upToDateStamp(req.upToDateDigest, { graph: req.graph, selected: req.selected, state, memo, env: req.env });
    if (stamp) writeUpToDateStamp(req.workspace, stamp);
  }
  const summary: RunSummary = {
    total: req.selected.length,
    ...counts,
    upToDate,
    wallMs: Math.round(performance.now() - wallStart),
    savedMs: Math.round(ctx.savedMs),
    interrupted: req.interrupt.aborted,
  };
  return { runId, summary, failed: counts.failed > 0 };
}

