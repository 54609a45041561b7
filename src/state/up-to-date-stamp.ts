/**
 * `<workspace>/.reprovm/up-to-date.json`: a proof, cheap to check, that a run would find every
 * selected task up to date. A successful run leaves it behind when it can; the next plain
 * `reprovm <manifest>` checks it before the CLI proper is even loaded (cli/fast-noop.ts) and,
 * when it holds, reports the no-op without parsing the manifest, computing a key or taking the
 * workspace lock. This is what brings a no-op of 1,000 tasks close to Node's own start-up.
 *
 * The stamp states: "for the manifest text and targets behind `digest`, with these values of
 * the tasks' declared environment variables, while these input files keep this stat (size,
 * mtime, ctime, inode: the stat memo's rule) and these outputs keep theirs (the rule of
 * outputsUpToDate), every task is up to date". That is exactly what the slow path would check,
 * so a stamp is self-validating: it is only ever trusted after every file it names has been
 * stat'ed again, and any difference sends the run down the normal path.
 *
 * Only runs whose tasks are all cacheable and take plain files as inputs (no directories or
 * globs: a new file below a directory would not change any recorded stat) write one, and only
 * when every input has a stat memo entry (files hashed within the memo's racy window have none,
 * so the stamp never vouches for a file that could have changed within one timestamp tick).
 * A run removes the stamp before it changes anything, and a torn or foreign file is ignored.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { outputsUpToDate, type OutputShape } from '../cache/outputs-up-to-date.js';
import { writeFileAtomicSync } from '../util/atomic-write.js';
import type { OutputStat } from './workspace-state.js';

const STAMP_VERSION = 1;

/** An input file's stat as memoised: [path, size, mtimeNs, ctimeNs, ino]. */
export type InputStat = readonly [path: string, size: number, mtimeNs: string, ctimeNs: string, ino: string];

export interface UpToDateStamp {
  readonly v: typeof STAMP_VERSION;
  /** {@link stampDigest} of what the stamp is about. */
  readonly digest: string;
  /** The selected tasks, in order. */
  readonly tasks: readonly string[];
  /** Environment variables the tasks declare (`env = ...`), and a digest of their values. */
  readonly envNames: readonly string[];
  readonly envDigest: string;
  readonly inputs: readonly InputStat[];
  /** Per task with outputs: the outputs and the stat of each output file. */
  readonly outputs: readonly { readonly entries: readonly OutputShape[]; readonly stats: readonly OutputStat[] }[];
  /** What the cache saves on a no-op: the sum of the tasks' last execution times. */
  readonly savedMs: number;
}

export function stampPath(workspace: string): string {
  return path.join(workspace, '.reprovm', 'up-to-date.json');
}

/** What a stamp is about: the manifest (its graph-cache digest), the targets as given, the tool version. */
export function stampDigest(parts: { graphDigest: string; targets: readonly string[]; version: string }): string {
  return createHash('sha256').update(JSON.stringify([STAMP_VERSION, parts.version, parts.graphDigest, parts.targets])).digest('hex');
}

/** Values of `names` (unset and empty told apart), as one digest. */
export function envDigest(names: readonly string[], env: NodeJS.ProcessEnv): string {
  return createHash('sha256').update(JSON.stringify(names.map((n) => env[n] ?? null))).digest('hex');
}

/** Removes the stamp (before a run changes anything). Never throws. */
export function removeUpToDateStamp(workspace: string): void {
  try {
    rmSync(stampPath(workspace), { force: true });
  } catch {
    // A read-only .reprovm: the stamp is still checked file by file before it is believed.
  }
}

/** Writes the stamp atomically (no fsync: losing it costs one slower no-op). Never throws. */
export function writeUpToDateStamp(workspace: string, stamp: UpToDateStamp): void {
  try {
    writeFileAtomicSync(stampPath(workspace), JSON.stringify(stamp));
  } catch {
    // Same as above: an accelerator only.
  }
}

/**
 * The selected tasks and the time the cache saves, if the stamp for `digest` exists and every
 * file it names is unchanged; undefined otherwise (the caller takes the normal path).
 */
export function checkUpToDateStamp(
  workspace: string,
  digest: string,
  env: NodeJS.ProcessEnv,
): { tasks: readonly string[]; savedMs: number } | undefined {
  try {
    const stamp = JSON.parse(readFileSync(stampPath(workspace), 'utf8')) as UpToDateStamp;
    if (stamp.v !== STAMP_VERSION || stamp.digest !== digest || stamp.envDigest !== envDigest(stamp.envNames, env)) return undefined;
    for (const [p, size, mtimeNs, ctimeNs, ino] of stamp.inputs) {
      const st = statSync(path.isAbsolute(p) ? p : path.join(workspace, p), { bigint: true, throwIfNoEntry: false });
      if (!st || Number(st.size) !== size || String(st.mtimeNs) !== mtimeNs || String(st.ctimeNs) !== ctimeNs || String(st.ino) !== ino) {
        return undefined;
      }
    }
    for (const o of stamp.outputs) if (!outputsUpToDate(workspace, o.entries, o.stats)) return undefined;
    if (!Array.isArray(stamp.tasks) || !stamp.tasks.every((t) => typeof t === 'string') || !Number.isFinite(stamp.savedMs)) return undefined;
    return { tasks: stamp.tasks, savedMs: stamp.savedMs };
  } catch {
    return undefined; // missing, torn or malformed
  }
}
