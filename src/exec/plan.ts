import { ActionCache } from '../cas/action-cache.js';
import { outputsUpToDate } from '../cache/outputs-up-to-date.js';
import type { EventBus } from '../events/bus.js';
import { eventTime } from '../events/events.js';
import type { TaskGraph } from '../graph/types.js';
import type { ResultHash, TaskKey } from '../hash/digest.js';
import { renderReason, type ExplainReason } from '../hash/explain.js';
import { FileHasher, StatMemo } from '../hash/file-hasher.js';
import { loadWorkspaceState } from '../state/workspace-state.js';
import { PreviousRecords, reasonsForRestore, reasonsSincePrevious } from './explain-task.js';
import { computeKey } from './task-runner.js';

export interface PlanRequest {
  readonly workspace: string;
  readonly graph: TaskGraph;
  readonly selected: readonly string[];
  readonly cacheDir: string;
  readonly force: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly bus: EventBus;
}

export interface PlanCounts {
  readonly run: number;
  readonly restore: number;
  readonly upToDate: number;
}

/** What a run would do with one task, and why. */
export interface TaskPlan {
  readonly task: string;
  readonly action: 'run' | 'restore' | 'up-to-date';
  /** Absent when the key cannot be computed yet (a dependency would run) or at all. */
  readonly key?: TaskKey;
  /** The decision in one line (the dry run's `reason`). */
  readonly reason: string;
  /** The details: what changed since the task's previous record, or what decided it. */
  readonly reasons: readonly ExplainReason[];
}

/**
 * `-n/--dry-run`: emits a `task-planned` event for every selected task (see {@link planTasks}).
 */
export async function planBuild(req: PlanRequest): Promise<PlanCounts> {
  return planTasks(req, (p) =>
    req.bus.emit({
      type: 'task-planned',
      time: eventTime(),
      task: p.task,
      action: p.action,
      reason: p.reason,
      reasons: p.reasons.map(renderReason),
      ...(p.key ? { key: p.key } : {}),
    }),
  );
}

/**
 * Decides for every selected task whether a run would execute it, restore it or find it up
 * to date, and why (the engine of the dry run and of `explain`), without running or writing
 * anything: the stat memo is not saved and a corrupt record is not quarantined. A task
 * downstream of one that would run would run too: its key depends on a result that does not
 * exist yet.
 */
export async function planTasks(req: Omit<PlanRequest, 'bus'>, onPlan: (plan: TaskPlan) => void): Promise<PlanCounts> {
  const state = loadWorkspaceState(req.workspace);
  const ctx = { workspace: req.workspace, hasher: new FileHasher(new StatMemo(state.files)), env: req.env };
  const actions = new ActionCache(req.cacheDir);
  const previous = new PreviousRecords(actions, (task) => state.tasks[task]?.key);
  const results = new Map<string, ResultHash>();
  const counts = { run: 0, restore: 0, upToDate: 0 };
  const emit = (task: string, action: TaskPlan['action'], reason: string, reasons: readonly ExplainReason[], key?: TaskKey): void => {
    counts[action === 'up-to-date' ? 'upToDate' : action] += 1;
    onPlan({ task, action, reason, reasons, ...(key ? { key } : {}) });
  };
  for (const name of req.selected) {
    const node = req.graph.nodes.get(name)!;
    const pending = node.deps.find((d) => !results.has(d));
    if (pending !== undefined) {
      emit(name, 'run', `dependency "${pending}" will run`, [{ kind: 'dependency-will-run', task: pending }]);
      continue;
    }
    const computed = await computeKey(ctx, node.spec, node.deps.map((d) => ({ task: d, result: results.get(d)! })));
    if (!computed.ok) {
      emit(name, 'run', computed.failure.message, [{ kind: 'key-unavailable', message: computed.failure.message }]);
      continue;
    }
    const { key, record } = computed;
    if (req.force) {
      emit(name, 'run', 'forced (--force)', [{ kind: 'forced' }], key);
      continue;
    }
    if (!node.spec.cache) {
      emit(name, 'run', 'caching is disabled for this task (cache = false)', [{ kind: 'cache-disabled' }], key);
      continue;
    }
    const prev = state.tasks[name];
    if (prev && prev.key === key && outputsUpToDate(req.workspace, prev.outputs, prev.outputStats)) {
      results.set(name, prev.resultHash);
      emit(name, 'up-to-date', 'outputs match the cached result', [{ kind: 'up-to-date' }], key);
      continue;
    }
    const found = await actions.get(key, { quarantine: false });
    if (found.kind === 'hit') {
      results.set(name, found.record.resultHash);
      emit(name, 'restore', 'cached result found for this key', await reasonsForRestore(previous, name, key, record, prev?.key), key);
    } else if (found.kind === 'corrupt') {
      emit(name, 'run', `the cached record is corrupt (${found.message})`, [{ kind: 'record-corrupt' }], key);
    } else {
      const why = prev ? 'inputs, command or dependencies changed since the last run' : 'no cached result for this key';
      emit(name, 'run', why, await reasonsSincePrevious(previous, name, record), key);
    }
  }
  return counts;
}
