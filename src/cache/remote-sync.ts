/**
 * `cache push` / `cache pull`: moving whole action records (with their blobs) between the local
 * cache and the remote, for every record or for what a manifest's targets need now.
 *
 * Which keys a manifest needs is computed as a run computes them: a task's key depends on its
 * dependencies' result hashes, so tasks are walked dependencies first and a task whose
 * dependency has no record (locally, or for `pull` remotely) cannot have a key yet and is
 * counted as `unknown`. Nothing here runs a command or touches the workspace's outputs, so an
 * input that a dependency produces is taken from the dependency's record (what a run would have
 * restored before hashing it), not from the workspace, where it may be missing or stale.
 */
import type { ActionCache, ActionRecord } from '../cas/action-cache.js';
import type { TaskGraph } from '../graph/types.js';
import type { ResultHash, TaskKey } from '../hash/digest.js';
import { FileHasher, StatMemo } from '../hash/file-hasher.js';
import { loadWorkspaceState } from '../state/workspace-state.js';
import path from 'node:path';
import { statSync } from 'node:fs';
import { expandInputs } from '../hash/expand-inputs.js';
import { computeTaskKey, taskKeyRecord, type KeyInput } from '../hash/task-key.js';
import type { TaskSpec } from '../manifest/types.js';
import { Limiter } from './limiter.js';
import type { RemoteTier } from './tiered-cache.js';

/** Progress of a push or pull. */
export interface SyncProgress {
  readonly done: number;
  readonly total: number;
  readonly bytes: number;
}

/** The outcome of `cache pull`. */
export interface PullReport {
  /** Records fetched (verified, imported) from the remote. */
  readonly pulled: number;
  /** Already in the local cache. */
  readonly present: number;
  /** Not in the remote (or rejected: see the warnings). */
  readonly missing: number;
  /** Tasks of the manifest whose key could not be computed (a dependency has no record). */
  readonly unknown: number;
  readonly bytes: number;
}

/** The outcome of `cache push`. */
export interface PushReport {
  readonly pushed: number;
  /** Records the remote already had: never replaced. */
  readonly present: number;
  readonly failed: number;
  readonly unknown: number;
  readonly blobs: number;
  readonly bytes: number;
}

/** A manifest's tasks to sync: the workspace, its graph and the selected tasks (topological order). */
export interface SyncSelection {
  readonly workspace: string;
  readonly graph: TaskGraph;
  readonly selected: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

/** Every record in the local cache. */
export async function localRecords(actions: ActionCache): Promise<ActionRecord[]> {
  const records: ActionRecord[] = [];
  for await (const key of actions.list()) {
    const found = await actions.get(key, { quarantine: false });
    if (found.kind === 'hit') records.push(found.record);
  }
  return records;
}

/**
 * Walks the selected tasks dependencies first, asking `resolve` for each task's record by key;
 * returns each task's record, or undefined (no record, or the key cannot be known).
 */
async function walkSelection(
  sel: SyncSelection,
  resolve: (key: TaskKey, task: string) => Promise<ActionRecord | undefined>,
): Promise<{ records: Map<string, ActionRecord>; unknown: number }> {
  const hasher = new FileHasher(new StatMemo(loadWorkspaceState(sel.workspace).files));
  const ctx = { workspace: sel.workspace, hasher, env: sel.env };
  const limit = new Limiter(16);
  const memo = new Map<string, Promise<ResultHash | undefined>>();
  const records = new Map<string, ActionRecord>();
  let unknown = 0;
  const resultOf = (name: string): Promise<ResultHash | undefined> => {
    let p = memo.get(name);
    if (p === undefined) {
      p = (async () => {
        const node = sel.graph.nodes.get(name);
        if (node === undefined || !node.spec.cache) return undefined;
        const deps = await Promise.all(node.deps.map(async (d) => ({ task: d, result: await resultOf(d) })));
        if (deps.some((d) => d.result === undefined)) {
          unknown += 1;
          return undefined;
        }
        return limit.run(async () => {
          const produced = new Map<string, KeyInput>();
          for (const d of node.deps) {
            for (const o of records.get(d)?.outputs ?? []) {
              if (o.kind === 'file' && o.digest !== undefined) produced.set(o.path, { path: o.path, digest: o.digest, executable: ((o.mode ?? 0) & 0o111) !== 0 });
            }
          }
          const key = await keyOf(ctx, node.spec, deps as { task: string; result: ResultHash }[], produced);
          if (key === undefined) {
            unknown += 1;
            return undefined;
          }
          const record = await resolve(key, name);
          if (record === undefined) return undefined;
          records.set(name, record);
          return record.resultHash;
        });
      })();
      memo.set(name, p);
    }
    return p;
  };
  await Promise.all(sel.selected.map(resultOf));
  return { records, unknown };
}

/**
 * A task's key as a run would compute it, except that inputs produced by its dependencies come
 * from their records (`produced`); undefined when another input is missing or unreadable.
 */
async function keyOf(
  ctx: { workspace: string; hasher: FileHasher; env: NodeJS.ProcessEnv },
  spec: TaskSpec,
  deps: readonly { task: string; result: ResultHash }[],
  produced: ReadonlyMap<string, KeyInput>,
): Promise<TaskKey | undefined> {
  const expanded = expandInputs(ctx.workspace, spec.inputs.map((i) => i.value));
  if (expanded.missing.some((m) => !produced.has(m))) return undefined;
  const inputs: KeyInput[] = expanded.missing.map((m) => produced.get(m) as KeyInput);
  try {
    for (const rel of expanded.files) {
      const made = produced.get(rel);
      if (made !== undefined) {
        inputs.push(made);
        continue;
      }
      const abs = path.isAbsolute(rel) ? rel : path.join(ctx.workspace, rel);
      const st = expanded.stats.get(rel) ?? statSync(abs, { bigint: true });
      const f = ctx.hasher.memoLookup(rel, st) ?? (await ctx.hasher.hashFile(abs, rel, st));
      inputs.push({ path: rel, digest: f.digest, executable: f.executable });
    }
  } catch {
    return undefined;
  }
  const record = taskKeyRecord(spec, inputs, deps, ctx.env);
  return computeTaskKey(record);
}

/** Pushes every local record (or those a manifest's targets need) with their blobs. */
export async function pushRecords(
  tier: RemoteTier,
  actions: ActionCache,
  selection: SyncSelection | undefined,
  onProgress: (p: SyncProgress) => void,
): Promise<PushReport> {
  let records: ActionRecord[];
  let unknown = 0;
  if (selection === undefined) records = await localRecords(actions);
  else {
    const walked = await walkSelection(selection, async (key) => {
      const found = await actions.get(key, { quarantine: false });
      return found.kind === 'hit' ? found.record : undefined;
    });
    records = [...walked.records.values()];
    unknown = walked.unknown;
  }
  if (records.length > 0) await tier.primePresentBlobs();
  for (const r of records) tier.upload(r);
  const total = records.length;
  onProgress({ done: 0, total, bytes: 0 });
  const done = await tier.flush((p) => onProgress({ done: p.recordsDone, total, bytes: p.bytesUploaded }));
  return {
    pushed: done?.recordsUploaded ?? 0,
    present: done?.recordsPresent ?? 0,
    failed: done?.recordsDropped ?? 0,
    unknown,
    blobs: done?.blobsUploaded ?? 0,
    bytes: done?.bytesUploaded ?? 0,
  };
}

/** Pulls every remote record missing locally (or those a manifest's targets need). */
export async function pullRecords(
  tier: RemoteTier,
  actions: ActionCache,
  selection: SyncSelection | undefined,
  listRemoteKeys: () => Promise<TaskKey[]>,
  onProgress: (p: SyncProgress) => void,
): Promise<PullReport> {
  let pulled = 0;
  let present = 0;
  let missing = 0;
  let done = 0;
  let total = 0;
  const fetchOne = async (key: TaskKey, task: string): Promise<ActionRecord | undefined> => {
    const local = await actions.get(key, { quarantine: false });
    let record: ActionRecord | undefined;
    if (local.kind === 'hit') {
      present += 1;
      record = local.record;
    } else {
      const got = await tier.fetch(key, task, actions);
      if (got.kind === 'hit') {
        pulled += 1;
        record = got.record;
      } else missing += 1;
    }
    done += 1;
    onProgress({ done, total, bytes: tier.totals.bytesDownloaded });
    return record;
  };
  if (selection !== undefined) {
    total = selection.selected.length;
    onProgress({ done: 0, total, bytes: 0 });
    const walked = await walkSelection(selection, fetchOne);
    return { pulled, present, missing, unknown: walked.unknown, bytes: tier.totals.bytesDownloaded };
  }
  const keys = await listRemoteKeys();
  total = keys.length;
  onProgress({ done: 0, total, bytes: 0 });
  const limit = new Limiter(16);
  await Promise.all(keys.map((k) => limit.run(() => fetchOne(k, `record ${k.slice(0, 12)}`))));
  return { pulled, present, missing, unknown: 0, bytes: tier.totals.bytesDownloaded };
}
