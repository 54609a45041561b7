import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import type { OutputEntry } from '../cas/action-cache.js';
import type { OutputStat } from '../state/workspace-state.js';
import { lstatOrUndefined } from '../util/fs.js';

/** The parts of an output entry that say whether it is still in place (digests are not needed). */
export type OutputShape = Pick<OutputEntry, 'kind' | 'path' | 'target'>;

/**
 * The no-op fast path: true when every output is exactly as reprovm left it (same stat for
 * files, same link target, directories with exactly the recorded entries). Synchronous: it
 * runs for every task of a no-op build and is a handful of lstat calls.
 */
export function outputsUpToDate(
  workspace: string,
  entries: readonly OutputShape[],
  stats: readonly OutputStat[],
): boolean {
  // Plain loops: this runs for every task of a no-op build, usually with one or two outputs.
  let paths: Set<string> | undefined; // built only if there is a directory to compare
  for (const entry of entries) {
    const abs = path.join(workspace, entry.path);
    switch (entry.kind) {
      case 'file': {
        const want = stats.find((s) => s.path === entry.path);
        const now = want && lstatSync(abs, { bigint: true, throwIfNoEntry: false });
        if (!want || !now || Number(now.size) !== want.size || String(now.mtimeNs) !== want.mtimeNs || String(now.ino) !== want.ino) {
          return false;
        }
        break;
      }
      case 'symlink': {
        const st = lstatOrUndefined(abs);
        if (!st?.isSymbolicLink() || readlinkSync(abs) !== entry.target) return false;
        break;
      }
      case 'dir': {
        const st = lstatOrUndefined(abs);
        if (!st?.isDirectory()) return false;
        paths ??= new Set(entries.map((e) => e.path));
        for (const name of readdirSync(abs)) if (!paths.has(`${entry.path}/${name}`)) return false;
        break;
      }
    }
  }
  return true;
}
