import { rmSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { collectOutputs } from '../cache/collect-outputs.js';
import { addInline, type ActionRecord } from '../cas/action-cache.js';
import { WorkspaceWriter } from '../cache/workspace-paths.js';
import { eventTime, type CacheLookup, type MissReason, type TaskFailure, type TaskOutputRef } from '../events/events.js';
import type { FileDigest, ResultHash, TaskKey } from '../hash/digest.js';
import { expandInputs } from '../hash/expand-inputs.js';
import { computeResultHash, computeTaskKey, taskKeyRecord, type KeyInput, type KeyRecord } from '../hash/task-key.js';
import type { TaskSpec } from '../manifest/types.js';
import { lstatOrUndefined } from '../util/fs.js';
import { lookupAndRestore } from './cache-lookup.js';
import { explainMiss } from './explain-task.js';
import type { TaskWindow } from './hermeticity.js';
import { outputRefs } from './output-refs.js';
import { runCommand, type ProcessResult } from './process-runner.js';
import { emitCaptured, warn, type RunContext } from './run-context.js';
import type { NodeOutcome } from './scheduler.js';
import { taskEnvironment } from './task-env.js';
import { realClock } from './token-bucket.js';

/*
 * One task from start to finish: its key, the cache lookup (cache-lookup.ts), and on a miss
 * the command (with retries), the outputs into the CAS and the action record last.
 */

/** The key of a task, computed from its inputs as they are now. */
export type KeyComputation =
  | { readonly ok: true; readonly key: TaskKey; readonly record: KeyRecord }
  | { readonly ok: false; readonly failure: TaskFailure };

export async function computeKey(
  ctx: Pick<RunContext, 'workspace' | 'hasher' | 'env'>,
  spec: TaskSpec,
  deps: readonly { task: string; result: ResultHash }[],
): Promise<KeyComputation> {
  const expanded = expandInputs(ctx.workspace, spec.inputs.map((i) => i.value));
  if (expanded.missing.length > 0) {
    const list = expanded.missing.map((m) => `"${m}"`).join(', ');
    const noun = expanded.missing.length === 1 ? 'input' : 'inputs';
    return { ok: false, failure: { reason: 'input-missing', message: `task "${spec.name}": ${noun} ${list} not found` } };
  }
  // Memo hits are answered synchronously; only files that must be read are awaited.
  const inputs: KeyInput[] = new Array<KeyInput>(expanded.files.length);
  const reads: Promise<void>[] = [];
  try {
    expanded.files.forEach((rel, i) => {
      const abs = path.isAbsolute(rel) ? rel : path.join(ctx.workspace, rel);
      const st = expanded.stats.get(rel) ?? statSync(abs, { bigint: true });
      const hit = ctx.hasher.memoLookup(rel, st);
      if (hit) inputs[i] = { path: rel, digest: hit.digest, executable: hit.executable };
      else {
        reads.push(
          ctx.hasher.hashFile(abs, rel, st).then((f) => {
            inputs[i] = { path: rel, digest: f.digest, executable: f.executable };
          }),
        );
      }
    });
    if (reads.length > 0) await Promise.all(reads);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, failure: { reason: 'input-missing', message: `task "${spec.name}": cannot read an input: ${message}` } };
  }
  const record = taskKeyRecord(spec, inputs, deps, ctx.env);
  return { ok: true, key: computeTaskKey(record), record };
}

/** Runs one task: key, cache lookup (restore on hit), else execute and store. */
export async function runTask(ctx: RunContext, name: string, stop: AbortSignal): Promise<NodeOutcome> {
  const node = ctx.graph.nodes.get(name)!;
  const spec = node.spec;
  const started = performance.now();
  const deps = node.deps.map((d) => ({ task: d, result: ctx.results.get(d)! }));
  const computed = await computeKey(ctx, spec, deps);
  if (!computed.ok) return finishFailed(ctx, name, undefined, computed.failure, started);
  const { key, record } = computed;

  let reason: MissReason;
  let release: (() => void) | undefined;
  if (ctx.force) reason = 'forced';
  else if (!spec.cache) reason = 'cache-disabled';
  else {
    const lookup = await lookupAndRestore(ctx, spec, key);
    if (lookup.result === 'hit') {
      ctx.savedMs += lookup.savedMs;
      emitFinished(ctx, name, 'cached', key, lookup.resultHash, lookup.cache, lookup.outputs, started);
      return 'ok';
    }
    reason = lookup.reason;
    release = lookup.release;
  }
  try {
    const explain = await explainMiss(ctx.explain, name, record, reason);
    return await execute(ctx, spec, key, record, reason, stop, started, explain);
  } finally {
    release?.();
  }
}

async function execute(
  ctx: RunContext,
  spec: TaskSpec,
  key: TaskKey,
  record: KeyRecord,
  reason: MissReason,
  stop: AbortSignal,
  started: number,
  explain: string | undefined,
): Promise<NodeOutcome> {
  const release = await ctx.slots.acquire(ctx.priority.get(spec.name) ?? 0, stop);
  if (!release) return 'cancelled';
  let watch: TaskWindow | undefined;
  try {
    await ctx.bucket.acquire(stop);
    if (stop.aborted) return 'cancelled';
    const prepared = prepareOutputs(ctx.workspace, spec);
    if (prepared) return finishFailed(ctx, spec.name, key, prepared, started);

    const env = taskEnvironment(ctx.env, ctx.baseEnv, spec.env.map((e) => e.value), spec.name);
    const timeoutMs = spec.timeoutMs ?? ctx.defaultTimeoutMs;
    let result: ProcessResult;
    watch = ctx.hermeticity?.begin(spec.name);
    for (let attempt = 1; ; attempt++) {
      ctx.bus.emit({ type: 'task-started', time: eventTime(), task: spec.name, key, attempt, reason, ...(explain ? { explain } : {}) });
      result = await runCommand(
        {
          cmd: spec.cmd.value,
          cwd: ctx.workspace,
          env,
          timeoutMs,
          signal: ctx.interrupt,
          killGraceMs: ctx.killGraceMs,
          onLine: ctx.liveOutput
            ? (stream, line) => ctx.bus.emit({ type: 'task-output', time: eventTime(), task: spec.name, stream, line, replay: false })
            : undefined,
          captureDir: ctx.captureDir,
        },
        ctx.groups,
      );
      if (!ctx.liveOutput) emitCaptured(ctx, spec.name, result, false);
      if (result.interrupted) {
        const stopped: TaskFailure = { reason: 'interrupted', message: `task "${spec.name}" was interrupted` };
        return finishFailed(ctx, spec.name, key, stopped, started, Math.round(result.durationMs));
      }
      const failure = describeFailure(spec.name, result, timeoutMs);
      if (!failure) break;
      if (attempt > (spec.retries ?? ctx.defaultRetries) || ctx.interrupt.aborted) return finishFailed(ctx, spec.name, key, failure, started, Math.round(result.durationMs));
      const delayMs = Math.min(30_000, ctx.retryBaseMs * 2 ** (attempt - 1));
      ctx.bus.emit({ type: 'task-retry', time: eventTime(), task: spec.name, attempt, delayMs, failure });
      await realClock.sleep(delayMs, ctx.interrupt);
    }
    const unhermetic = await watch?.finish(record.inputs.map((i) => i.path), spec.inputs.map((i) => i.value));
    if (unhermetic) return finishFailed(ctx, spec.name, key, unhermetic, started, Math.round(result.durationMs));
    return await store(ctx, spec, key, record, reason, result, started);
  } finally {
    // Hand the slot on only after the scheduler has seen this task's outcome: after a failure
    // (without -k) a waiting task must be cancelled, not given the slot.
    watch?.close();
    setImmediate(release);
  }
}

async function store(
  ctx: RunContext,
  spec: TaskSpec,
  key: TaskKey,
  record: KeyRecord,
  reason: MissReason,
  result: ProcessResult,
  started: number,
): Promise<NodeOutcome> {
  const collected = await collectOutputs(ctx.workspace, spec.name, spec.outputs.map((o) => o.value), ctx.store, spec.cache ? ctx.inlineMax : 0);
  if (!collected.ok) return finishFailed(ctx, spec.name, key, collected.error, started, Math.round(result.durationMs));
  const { entries, stats, inline } = collected.value;
  const resultHash = computeResultHash(entries);
  const durationMs = Math.round(result.durationMs);
  if (spec.cache) {
    const logs: { stdout?: FileDigest; stderr?: FileDigest } = {};
    for (const stream of ['stdout', 'stderr'] as const) {
      const bytes = result[stream];
      if (bytes.length === 0) continue;
      if (bytes.length <= ctx.inlineMax) {
        logs[stream] = addInline(inline, bytes);
        continue;
      }
      const put = await ctx.store.putBuffer(bytes);
      if (put.ok) logs[stream] = put.value.digest;
    }
    try {
      // Written last: a record only ever names blobs that are already in the store.
      const action: ActionRecord = {
        version: 2,
        task: spec.name,
        key,
        keyRecord: record,
        resultHash,
        outputs: entries,
        ...logs,
        ...(Object.keys(inline).length > 0 ? { inline } : {}),
        exitCode: 0,
        durationMs,
        createdAt: eventTime(),
      };
      await ctx.actions.put(action);
      ctx.remote?.upload(action); // in the background; the run waits for it before exiting
    } catch (error) {
      warn(ctx, spec.name, `could not write the cache record of task "${spec.name}": ${String(error)}`);
    }
  }
  ctx.results.set(spec.name, resultHash);
  ctx.stateDirty = true;
  ctx.state.durations[spec.name] = durationMs;
  if (spec.cache) {
    ctx.state.tasks[spec.name] = { key, resultHash, outputs: entries, outputStats: stats, durationMs, status: 'executed', finishedAt: eventTime() };
  } else {
    delete ctx.state.tasks[spec.name];
  }
  emitFinished(ctx, spec.name, 'executed', key, resultHash, { result: 'miss', reason }, outputRefs(entries), started, durationMs);
  return 'ok';
}

/**
 * Before a command runs: a stale output must never pass for a fresh one, so declared outputs
 * are removed; their parent directories are created (commands need no `mkdir -p`); and an
 * output whose path runs through a symlink is refused, so no task output lands outside the
 * workspace by way of a link.
 */
function prepareOutputs(workspace: string, spec: TaskSpec): TaskFailure | undefined {
  const writer = new WorkspaceWriter(workspace);
  try {
    for (const out of spec.outputs) {
      const abs = writer.prepareParents(out.value);
      const st = lstatOrUndefined(abs);
      if (st?.isDirectory()) rmSync(abs, { recursive: true, force: true });
      else if (st) unlinkSync(abs);
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { reason: 'output-invalid', message: `task "${spec.name}": ${message}` };
  }
  return undefined;
}

/** Turns a process result into a failure, or undefined when the command succeeded. */
export function describeFailure(task: string, r: ProcessResult, timeoutMs: number | undefined): TaskFailure | undefined {
  if (r.spawnError !== undefined) return { reason: 'spawn-error', message: `task "${task}" could not start: ${r.spawnError}` };
  if (r.timedOut) return { reason: 'timeout', message: `task "${task}" timed out after ${formatSeconds(timeoutMs ?? 0)}` };
  if (r.signal) return { reason: 'signal', message: `task "${task}" was killed by signal ${r.signal}`, signal: r.signal };
  if (r.exitCode !== 0) {
    return { reason: 'exit-non-zero', message: `task "${task}" failed with exit code ${r.exitCode}`, exitCode: r.exitCode ?? -1 };
  }
  return undefined;
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

/**
 * Reports a failed task. `durationMs`, once the command ran, is its last attempt's run time (as
 * for executed tasks), so a wait for a `-j` slot never counts as the task's duration; a task
 * that failed before running reports the time spent on it since it became ready.
 */
function finishFailed(
  ctx: RunContext,
  task: string,
  key: TaskKey | undefined,
  failure: TaskFailure,
  started: number,
  durationMs?: number,
): NodeOutcome {
  if (ctx.state.tasks[task]) {
    delete ctx.state.tasks[task];
    ctx.stateDirty = true;
  }
  ctx.bus.emit({
    type: 'task-finished',
    time: eventTime(),
    task,
    status: 'failed',
    ...(key ? { key } : {}),
    durationMs: durationMs ?? Math.round(performance.now() - started),
    failure,
  });
  return 'failed';
}

function emitFinished(
  ctx: RunContext,
  task: string,
  status: 'executed' | 'cached',
  key: TaskKey,
  resultHash: ResultHash,
  cache: CacheLookup,
  outputs: readonly TaskOutputRef[],
  started: number,
  durationMs?: number,
): void {
  ctx.bus.emit({
    type: 'task-finished',
    time: eventTime(),
    task,
    status,
    key,
    resultHash,
    cache,
    durationMs: durationMs ?? Math.round(performance.now() - started),
    outputs,
  });
}
