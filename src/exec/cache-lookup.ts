import { inlineBlob, type ActionRecord } from '../cas/action-cache.js';
import { recordMismatch } from '../cache/record-check.js';
import { outputsUpToDate } from '../cache/outputs-up-to-date.js';
import { restoreOutputs } from '../cache/restore.js';
import { eventTime, type CacheLookup, type MissReason, type TaskOutputRef } from '../events/events.js';
import type { ResultHash, TaskKey } from '../hash/digest.js';
import type { TaskSpec } from '../manifest/types.js';
import type { TaskState } from '../state/workspace-state.js';
import { outputRefs } from './output-refs.js';
import { emitLines, warn, type RunContext } from './run-context.js';

/**
 * The cache side of a task: up to date (outputs exactly as the last run left them for this
 * key), restored from an action record, or a miss with its reason.
 */
export type Lookup =
  | { result: 'hit'; resultHash: ResultHash; savedMs: number; cache: CacheLookup; outputs: readonly TaskOutputRef[] }
  | { result: 'miss'; reason: MissReason; /** Give back the task's remote lookahead slot once it has finished. */ release?: () => void };

export async function lookupAndRestore(ctx: RunContext, spec: TaskSpec, key: TaskKey): Promise<Lookup> {
  const prev = ctx.state.tasks[spec.name];
  if (prev && prev.key === key && outputsUpToDate(ctx.workspace, prev.outputs, prev.outputStats)) {
    ctx.results.set(spec.name, prev.resultHash);
    touchIfStale(ctx, spec.name, key, prev);
    const cache: CacheLookup = { result: 'hit', source: 'local', upToDate: true, bytesRestored: 0, filesRestored: 0, savedMs: prev.durationMs };
    return { result: 'hit', resultHash: prev.resultHash, savedMs: prev.durationMs, cache, outputs: outputRefs(prev.outputs) };
  }
  let found;
  try {
    found = await ctx.actions.get(key);
  } catch (error) {
    warn(ctx, spec.name, `cannot read the cache record of task "${spec.name}": ${String(error)}; running it`);
    return { result: 'miss', reason: 'error' };
  }
  if (found.kind === 'corrupt') {
    warn(ctx, spec.name, `the cache record of task "${spec.name}" was corrupt (${found.message}); it was quarantined and the task runs again`);
  }
  let rec: ActionRecord;
  let bytesDownloaded: number | undefined;
  const declared = spec.outputs.map((o) => o.value);
  if (found.kind === 'hit') {
    rec = found.record;
    // A record that is not this task's (stray paths, another task, a key record that does not hash to the key) is never restored.
    const mismatch = recordMismatch(rec, spec.name, declared);
    if (mismatch !== undefined) {
      warn(ctx, spec.name, `the cache record of task "${spec.name}" was refused (${mismatch}); the task runs again`);
      return { result: 'miss', reason: 'corrupt' };
    }
  } else {
    // Local first, then the remote tier: a verified remote hit lands in the local cache, then restores as a local one.
    const local: MissReason = found.kind === 'corrupt' ? 'corrupt' : 'no-record';
    if (!ctx.remote) return { result: 'miss', reason: local };
    const accept = (r: ActionRecord): string | undefined => recordMismatch(r, spec.name, declared);
    const release = ctx.remoteAhead ? await ctx.remoteAhead.acquire(ctx.priority.get(spec.name) ?? 0, ctx.interrupt) : undefined;
    if (release === null) return { result: 'miss', reason: local }; // interrupted: the task will not start anyway
    let remote;
    try {
      remote = await ctx.remote.fetch(key, spec.name, ctx.actions, { forRestore: true, accept });
    } catch (error) {
      release?.();
      throw error;
    }
    if (remote.kind === 'miss') return { result: 'miss', reason: remote.reason === 'no-record' ? local : remote.reason, ...(release ? { release } : {}) };
    release?.(); // a hit restores from the local cache now: nothing left to run
    rec = remote.record;
    bytesDownloaded = remote.bytesDownloaded;
  }
  // Before restoring: a concurrent gc then sees it as recently used (a record just fetched from the remote is new anyway).
  if (bytesDownloaded === undefined) ctx.actions.touchSync(key, new Date());
  const restored = await restoreOutputs(ctx.workspace, declared, rec, ctx.store, ctx.hasher);
  // Verified copies kept by the remote import that the restore did not use (an output already in place) go now.
  if (bytesDownloaded !== undefined) for (const o of rec.outputs) if (o.digest !== undefined) ctx.store.fresh.discard(o.digest);
  if (!restored.ok) {
    const why = restored.error.kind === 'corrupt' ? 'corrupt' : 'error';
    warn(ctx, spec.name, `cannot restore task "${spec.name}" from the cache: ${restored.error.message}; running it`);
    return { result: 'miss', reason: why };
  }
  await replayOutput(ctx, spec.name, rec);
  ctx.results.set(spec.name, rec.resultHash);
  ctx.stateDirty = true;
  ctx.state.tasks[spec.name] = {
    key,
    resultHash: rec.resultHash,
    outputs: rec.outputs,
    outputStats: restored.value.stats,
    durationMs: rec.durationMs,
    status: 'cached',
    finishedAt: eventTime(),
  };
  const cache: CacheLookup = {
    result: 'hit',
    source: bytesDownloaded === undefined ? 'local' : 'remote',
    upToDate: restored.value.files === 0,
    bytesRestored: restored.value.bytes,
    filesRestored: restored.value.files,
    savedMs: rec.durationMs,
    ...(bytesDownloaded === undefined ? {} : { bytesDownloaded }),
  };
  return { result: 'hit', resultHash: rec.resultHash, savedMs: rec.durationMs, cache, outputs: outputRefs(rec.outputs) };
}

/** Up-to-date tasks refresh their record's "last used" at most this often. */
const TOUCH_EVERY_MS = 60 * 60 * 1000;

/**
 * An up-to-date task still uses its record (gc must not evict it), but a no-op run of
 * thousands of tasks should not pay a syscall per task: the record is touched only when this
 * workspace last did so (its `finishedAt`, which then means "last used here") is over an hour
 * ago. An hour is far finer than any gc limit is set in.
 */
function touchIfStale(ctx: RunContext, task: string, key: TaskKey, prev: TaskState): void {
  const now = new Date();
  if (now.getTime() - Date.parse(prev.finishedAt) < TOUCH_EVERY_MS) return;
  if (!ctx.actions.touchSync(key, now)) return; // record gone (cache clean) or read-only cache
  ctx.state.tasks[task] = { ...prev, finishedAt: now.toISOString() };
  ctx.stateDirty = true;
}

async function replayOutput(ctx: RunContext, task: string, rec: ActionRecord): Promise<void> {
  for (const stream of ['stdout', 'stderr'] as const) {
    const digest = rec[stream];
    if (!digest) continue;
    const inline = inlineBlob(rec, digest);
    if (inline !== undefined) {
      emitLines(ctx, task, stream, inline, true);
      continue;
    }
    const blob = await ctx.store.getBuffer(digest);
    if (!blob.ok) continue; // Logs are a convenience; a missing log never fails a hit.
    emitLines(ctx, task, stream, blob.value, true);
  }
}
