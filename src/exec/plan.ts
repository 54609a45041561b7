import { ActionCache } from '../cas/action-cache.js';
import { outputsUpToDate } from '../cache/restore.js';
import type { EventBus } from '../events/bus.js';
import { eventTime } from '../events/events.js';
import type { TaskGraph } from '../graph/types.js';
import type { ResultHash } from '../hash/digest.js';
import { FileHasher, StatMemo } from '../hash/file-hasher.js';
import { loadWorkspaceState } from '../state/workspace-state.js';
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

/**
 * `-n/--dry-run`: decides for every selected task whether a run would execute it, restore it
 * or find it up to date, and why, without running or writing anything (the stat memo is
 * not saved). A task downstream of one that would run would run too: its key depends on a
 * result that does not exist yet.
 */
export async function planBuild(req: PlanRequest): Promise<PlanCounts> {
  const state = loadWorkspaceState(req.workspace);
  const ctx = { workspace: req.workspace, hasher: new FileHasher(new StatMemo(state.files)), env: req.env };
  const actions = new ActionCache(req.cacheDir);
  const results = new Map<string, ResultHash>();
  const counts = { run: 0, restore: 0, upToDate: 0 };
  const emit = (task: string, action: 'run' | 'restore' | 'up-to-date', reason: string, key?: string): void => {
    counts[action === 'up-to-date' ? 'upToDate' : action] += 1;
    req.bus.emit({ type: 'task-planned', time: eventTime(), task, action, reason, ...(key ? { key } : {}) });
  };
  for (const name of req.selected) {
    const node = req.graph.nodes.get(name)!;
    const pending = node.deps.find((d) => !results.has(d));
    if (pending !== undefined) {
      emit(name, 'run', `dependency "${pending}" will run`);
      continue;
    }
    const computed = await computeKey(ctx, node.spec, node.deps.map((d) => ({ task: d, result: results.get(d)! })));
    if (!computed.ok) {
      emit(name, 'run', computed.failure.message);
      continue;
    }
    const { key } = computed;
    if (req.force) {
      emit(name, 'run', 'forced (--force)', key);
      continue;
    }
    if (!node.spec.cache) {
      emit(name, 'run', 'caching is disabled for this task (cache = false)', key);
      continue;
    }
    const prev = state.tasks[name];
    if (prev && prev.key === key && outputsUpToDate(req.workspace, prev.outputs, prev.outputStats)) {
      results.set(name, prev.resultHash);
      emit(name, 'up-to-date', 'outputs match the cached result', key);
      continue;
    }
    const found = await actions.get(key);
    if (found.kind === 'hit') {
      results.set(name, found.record.resultHash);
      emit(name, 'restore', 'cached result found for this key', key);
    } else if (found.kind === 'corrupt') {
      emit(name, 'run', `the cached record is corrupt (${found.message})`, key);
    } else {
      emit(name, 'run', prev ? 'inputs, command or dependencies changed since the last run' : 'no cached result for this key', key);
    }
  }
  return counts;
}
