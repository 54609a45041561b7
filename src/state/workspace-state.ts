import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { OutputEntry } from '../cas/action-cache.js';
import type { ResultHash, TaskKey } from '../hash/digest.js';
import type { StatMemoEntry } from '../hash/file-hasher.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/**
 * Per-workspace state at `<workspace>/.reprovm/state.json`: an accelerator, never a source
 * of truth.
 *
 * - `files`: the stat memo (path → size, mtime, ctime, inode, digest) so a no-op run stats
 *   inputs instead of reading them.
 * - `tasks`: for each task the key and outputs of its last success in this workspace, with
 *   the stat of each output file as it was left. When the key is unchanged and every output
 *   still has that stat, the task is up to date without touching the CAS (what keeps a
 *   no-op of 10,000 tasks to one file read instead of 10,000).
 *
 * Written atomically at the end of a run (temp + fsync + rename). A missing, torn or
 * foreign-version file is ignored: the run re-hashes and consults the action cache, so
 * losing it costs time, never correctness.
 */
export const STATE_VERSION = 1;

/** Stat identity of an output file as reprovm left it. */
export interface OutputStat {
  readonly path: string;
  readonly size: number;
  readonly mtimeNs: string;
  readonly ino: string;
}

export interface TaskState {
  readonly key: TaskKey;
  readonly resultHash: ResultHash;
  readonly outputs: readonly OutputEntry[];
  readonly outputStats: readonly OutputStat[];
  /** Duration of the execution that produced these outputs: what a later hit saves. */
  readonly durationMs: number;
  readonly status: 'executed' | 'cached';
  readonly finishedAt: string;
}

export interface WorkspaceStateData {
  readonly version: number;
  readonly files: Record<string, StatMemoEntry>;
  readonly tasks: Record<string, TaskState>;
  /** Last execution time per task, kept across failures: the critical-path estimate. */
  readonly durations: Record<string, number>;
  /** How each task ended in the last run that reached it (for `--graph`). */
  readonly lastStatus: Record<string, 'executed' | 'cached' | 'failed' | 'skipped'>;
}

export function statePath(workspace: string): string {
  return path.join(workspace, '.reprovm', 'state.json');
}

export function loadWorkspaceState(workspace: string): WorkspaceStateData {
  try {
    const data = JSON.parse(readFileSync(statePath(workspace), 'utf8')) as Partial<WorkspaceStateData>;
    if (data.version === STATE_VERSION && isRecord(data.files) && isRecord(data.tasks) && isRecord(data.durations) && isRecord(data.lastStatus)) {
      return { version: STATE_VERSION, files: data.files, tasks: data.tasks, durations: data.durations, lastStatus: data.lastStatus };
    }
  } catch {
    // Missing or torn: start from nothing.
  }
  return { version: STATE_VERSION, files: {}, tasks: {}, durations: {}, lastStatus: {} };
}

export async function saveWorkspaceState(workspace: string, data: WorkspaceStateData): Promise<void> {
  await writeFileAtomic(statePath(workspace), JSON.stringify(data));
}

function isRecord(x: unknown): x is Record<string, never> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
