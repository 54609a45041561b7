import { ActionCache, type ActionRecord } from '../cas/action-cache.js';
import type { TaskGraph } from '../graph/types.js';
import type { ResultHash, TaskKey } from '../hash/digest.js';
import { FileHasher, StatMemo } from '../hash/file-hasher.js';
import type { TaskSpec } from '../manifest/types.js';
import { loadWorkspaceState } from '../state/workspace-state.js';
import { computeKey } from './task-runner.js';

/*
 * Which tasks can be re-checked for reproducibility: those whose current key has an action
 * record. Keys are computed exactly as a run computes them (computeKey, in topological order,
 * each dependency entering by the result hash of its record), read-only: the stat memo is used
 * but not saved, and a corrupt record is not quarantined.
 */

/** The cached outputs of one (transitive) dependency, to be restored into a scratch directory. */
export interface DependencyOutputs {
  readonly task: string;
  /** The dependency's declared outputs (to make declared directories exact). */
  readonly declared: readonly string[];
  readonly record: ActionRecord;
}

/** A cached task, with everything needed to execute it again away from the workspace. */
export interface ReproCandidate {
  readonly spec: TaskSpec;
  readonly key: TaskKey;
  /** The action record the new outputs are compared with. */
  readonly record: ActionRecord;
  /** Records of every transitive dependency, dependencies first. */
  readonly deps: readonly DependencyOutputs[];
}

/** A selected task that cannot be checked, and why. */
export interface NotCached {
  readonly task: string;
  readonly reason: string;
}

/** What {@link findCachedTasks} found, in the order of `selected`. */
export type CandidateOrSkip =
  | { readonly kind: 'candidate'; readonly task: string; readonly candidate: ReproCandidate }
  | ({ readonly kind: 'not-cached' } & NotCached);

/**
 * Computes the current key of every selected task (topological order) and looks its record
 * up. A task whose key cannot be computed (an input is missing, a dependency has no record)
 * or that has no valid record is reported as not cached.
 */
export async function findCachedTasks(req: {
  readonly workspace: string;
  readonly graph: TaskGraph;
  readonly selected: readonly string[];
  readonly cacheDir: string;
  readonly env: NodeJS.ProcessEnv;
}): Promise<CandidateOrSkip[]> {
  const state = loadWorkspaceState(req.workspace);
  const ctx = { workspace: req.workspace, hasher: new FileHasher(new StatMemo(state.files)), env: req.env };
  const actions = new ActionCache(req.cacheDir);
  const keys = new Map<string, TaskKey>();
  const results = new Map<string, ResultHash>();
  const found: CandidateOrSkip[] = [];
  for (const name of req.selected) {
    const node = req.graph.nodes.get(name)!;
    const pending = node.deps.find((d) => !results.has(d));
    if (pending !== undefined) {
      found.push({ kind: 'not-cached', task: name, reason: `dependency "${pending}" is not cached` });
      continue;
    }
    const computed = await computeKey(ctx, node.spec, node.deps.map((d) => ({ task: d, result: results.get(d)! })));
    if (!computed.ok) {
      found.push({ kind: 'not-cached', task: name, reason: computed.failure.message });
      continue;
    }
    const lookup = await actions.get(computed.key, { quarantine: false });
    if (lookup.kind !== 'hit') {
      const reason = lookup.kind === 'corrupt' ? `the cached record is corrupt (${lookup.message})` : 'no cached result for this key';
      found.push({ kind: 'not-cached', task: name, reason });
      continue;
    }
    keys.set(name, computed.key);
    results.set(name, lookup.record.resultHash);
    const candidate = await candidateFor(req.graph, name, keys, actions);
    found.push(candidate.ok ? { kind: 'candidate', task: name, candidate: candidate.value } : { kind: 'not-cached', task: name, reason: candidate.reason });
  }
  return found;
}

/**
 * The candidate for `task` given the keys of it and its dependencies (from a key computation
 * or from the `task-finished` events of a run): its record and its transitive dependencies'
 * records. Fails when a record is missing (e.g. a dependency with `cache = false`).
 */
export async function candidateFor(
  graph: TaskGraph,
  task: string,
  keys: ReadonlyMap<string, TaskKey>,
  actions: ActionCache,
): Promise<{ ok: true; value: ReproCandidate } | { ok: false; reason: string }> {
  const recordOf = async (name: string): Promise<ActionRecord | undefined> => {
    const key = keys.get(name);
    if (key === undefined) return undefined;
    const lookup = await actions.get(key, { quarantine: false });
    return lookup.kind === 'hit' ? lookup.record : undefined;
  };
  const node = graph.nodes.get(task);
  const key = keys.get(task);
  const record = await recordOf(task);
  if (!node || key === undefined || !record) return { ok: false, reason: 'no cached result for this key' };
  const deps: DependencyOutputs[] = [];
  for (const dep of transitiveDeps(graph, task)) {
    const depRecord = await recordOf(dep);
    if (!depRecord) return { ok: false, reason: `dependency "${dep}" has no cached result to restore` };
    deps.push({ task: dep, declared: graph.nodes.get(dep)!.spec.outputs.map((o) => o.value), record: depRecord });
  }
  return { ok: true, value: { spec: node.spec, key, record, deps } };
}

/** Every task `task` depends on, directly or not, dependencies before their dependents. */
function transitiveDeps(graph: TaskGraph, task: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const visit = (name: string): void => {
    for (const dep of graph.nodes.get(name)?.deps ?? []) {
      if (seen.has(dep)) continue;
      seen.add(dep);
      visit(dep);
      out.push(dep);
    }
  };
  visit(task);
  return out;
}
