import { ObjectStore } from '../cas/object-store.js';
import type { TaskFailure } from '../events/events.js';
import type { TaskKey } from '../hash/digest.js';
import { PrioritySlots } from './priority-slots.js';
import { runCommand, type ProcessGroups } from './process-runner.js';
import { compareOutputs, describeDifference, type OutputDifference } from './repro-compare.js';
import type { ReproCandidate } from './repro-candidates.js';
import { prepareScratch } from './repro-scratch.js';
import { passThroughEnvironment, taskEnvironment } from './task-env.js';
import { describeFailure } from './task-runner.js';

/*
 * Reproducibility checks (`reprovm verify-repro`, `--check-repro`): a cached task is executed
 * again in a scratch directory (repro-scratch.ts), `runs` times, and its outputs compared
 * with its action record (repro-compare.ts). The workspace and the cache are only read.
 */

/** How to re-execute tasks. */
export interface ReproOptions {
  readonly workspace: string;
  readonly cacheDir: string;
  /** The environment of reprovm itself; commands get `taskEnvironment` of it, as in a run. */
  readonly env: NodeJS.ProcessEnv;
  /** Executions per task (≥ 1); the first that does not reproduce ends the task's check. */
  readonly runs: number;
  /** Tasks checked at once. */
  readonly jobs: number;
  readonly killGraceMs?: number;
  readonly defaultTimeoutMs?: number | undefined;
  readonly interrupt?: AbortSignal;
  readonly groups?: ProcessGroups;
}

/** Why a re-execution could not be compared: the command failed, or the scratch directory could not be set up. */
export type ReproFailure = TaskFailure | { readonly reason: 'setup'; readonly message: string };

/** The outcome of checking one task. */
export type ReproVerdict =
  | { readonly task: string; readonly status: 'reproducible'; readonly key: TaskKey; readonly runs: number }
  | {
      readonly task: string;
      readonly status: 'not-reproducible';
      readonly key: TaskKey;
      readonly runs: number;
      /** The (1-based) execution that first differed. */
      readonly run: number;
      readonly differences: readonly OutputDifference[];
    }
  | { readonly task: string; readonly status: 'failed'; readonly key: TaskKey; readonly runs: number; readonly run: number; readonly failure: ReproFailure }
  | { readonly task: string; readonly status: 'not-cached'; readonly reason: string };

/**
 * Checks `candidates`, up to `opts.jobs` at once, and hands each verdict to `onVerdict` in the
 * order of `candidates` (so output is stable whatever finishes first).
 */
export async function checkReproducible(
  candidates: readonly ReproCandidate[],
  opts: ReproOptions,
  onVerdict: (verdict: ReproVerdict) => void,
): Promise<void> {
  const store = new ObjectStore(opts.cacheDir, { codec: 'none', level: 0, fsync: false });
  const slots = new PrioritySlots(Math.max(1, opts.jobs));
  const baseEnv = passThroughEnvironment(opts.env);
  try {
    const pending = candidates.map(async (c): Promise<ReproVerdict> => {
      const release = await slots.acquire(0, opts.interrupt);
      if (!release) return interrupted(c, opts.runs, 1);
      try {
        return await checkOne(c, opts, store, baseEnv);
      } catch (error) {
        // An I/O error while comparing: this task's check failed, the others go on.
        const message = `task "${c.spec.name}": ${error instanceof Error ? error.message : String(error)}`;
        return { task: c.spec.name, status: 'failed', key: c.key, runs: opts.runs, run: 1, failure: { reason: 'setup', message } };
      } finally {
        release();
      }
    });
    for (const verdict of pending) onVerdict(await verdict);
  } finally {
    await store.close();
  }
}

async function checkOne(
  c: ReproCandidate,
  opts: ReproOptions,
  store: ObjectStore,
  baseEnv: Readonly<Record<string, string>>,
): Promise<ReproVerdict> {
  const { spec } = c;
  const env = taskEnvironment(opts.env, baseEnv, spec.env.map((e) => e.value), spec.name);
  const timeoutMs = spec.timeoutMs ?? opts.defaultTimeoutMs;
  for (let run = 1; run <= opts.runs; run++) {
    if (opts.interrupt?.aborted) return interrupted(c, opts.runs, run);
    let scratch;
    try {
      scratch = await prepareScratch(opts.workspace, c, store);
    } catch (error) {
      const message = `task "${spec.name}": cannot set up a scratch directory: ${error instanceof Error ? error.message : String(error)}`;
      return { task: spec.name, status: 'failed', key: c.key, runs: opts.runs, run, failure: { reason: 'setup', message } };
    }
    try {
      const result = await runCommand(
        { cmd: spec.cmd.value, cwd: scratch.dir, env, timeoutMs, signal: opts.interrupt, killGraceMs: opts.killGraceMs ?? 5000 },
        opts.groups,
      );
      if (result.interrupted) return interrupted(c, opts.runs, run);
      const failure = describeFailure(spec.name, result, timeoutMs);
      if (failure) return { task: spec.name, status: 'failed', key: c.key, runs: opts.runs, run, failure };
      const differences = await compareOutputs(scratch.dir, spec.outputs.map((o) => o.value), c.record, store);
      if (differences.length > 0) return { task: spec.name, status: 'not-reproducible', key: c.key, runs: opts.runs, run, differences };
    } finally {
      scratch.remove();
    }
  }
  return { task: spec.name, status: 'reproducible', key: c.key, runs: opts.runs };
}

function interrupted(c: ReproCandidate, runs: number, run: number): ReproVerdict {
  const failure: TaskFailure = { reason: 'interrupted', message: `task "${c.spec.name}" was interrupted` };
  return { task: c.spec.name, status: 'failed', key: c.key, runs, run, failure };
}

/** A verdict's problem in one line (no task name), e.g. `out.txt differs at line 3: "a" vs "b"`. */
export function describeVerdictProblem(v: ReproVerdict): string | undefined {
  const ofRuns = (run: number, runs: number): string => (runs > 1 ? ` (run ${run} of ${runs})` : '');
  switch (v.status) {
    case 'not-reproducible':
      return `${v.differences.map((d) => describeDifference(d)).join('; ')}${ofRuns(v.run, v.runs)}`;
    case 'failed':
      return `${v.failure.message}${ofRuns(v.run, v.runs)}`;
    case 'reproducible':
    case 'not-cached':
      return undefined;
  }
}
