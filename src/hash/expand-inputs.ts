import { readdirSync, statSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import { isGlob } from '../util/glob.js';

/**
 * Turns a task's declared inputs (files, directories, globs) into the sorted list of files
 * that enter its key. Directory walks skip `.reprovm` and `.git` (cache and VCS state are
 * never inputs) and do not descend into symlinked directories (no loops, no escaping the
 * workspace); a symlink to a file is hashed by its target's content.
 *
 * The walk is synchronous on purpose: on a no-op run this is a few stat calls per task, and
 * a thread-pool round trip per call would cost more than the call itself.
 */
export interface ExpandedInputs {
  /** Workspace-relative POSIX paths (absolute for opted-in absolute inputs), sorted, unique. */
  readonly files: readonly string[];
  /** Declared inputs (not globs) that do not exist. */
  readonly missing: readonly string[];
  /** The stat of plain file inputs, taken while expanding, so the hasher need not stat again. */
  readonly stats: ReadonlyMap<string, BigIntStats>;
}

const SKIP_DIRS = new Set(['.reprovm', '.git']);

export function expandInputs(workspace: string, declared: readonly string[]): ExpandedInputs {
  const files = new Set<string>();
  const missing: string[] = [];
  const stats = new Map<string, BigIntStats>();
  for (const input of declared) {
    if (isGlob(input)) {
      expandGlob(workspace, input, files);
      continue;
    }
    const abs = path.isAbsolute(input) ? input : path.join(workspace, input);
    const st = statSync(abs, { bigint: true, throwIfNoEntry: false });
    if (st === undefined) {
      missing.push(input);
    } else if (st.isDirectory()) {
      walkFiles(abs, input, (rel) => files.add(rel));
    } else {
      files.add(input);
      stats.set(input, st);
    }
  }
  const sorted = files.size <= 1 ? [...files] : [...files].sort(compareStrings);
  return { files: sorted, missing, stats };
}

function expandGlob(workspace: string, pattern: string, out: Set<string>): void {
  const { base } = picomatch.scan(pattern);
  const match = picomatch(pattern, { dot: false });
  const baseAbs = base === '' ? workspace : path.isAbsolute(base) ? base : path.join(workspace, base);
  try {
    if (!statSync(baseAbs).isDirectory()) return;
  } catch {
    return;
  }
  walkFiles(baseAbs, base, (rel) => {
    if (match(rel)) out.add(rel);
  });
}

/** Calls `visit` with the relative path of every regular file (or symlink to one) below `abs`. */
export function walkFiles(abs: string, rel: string, visit: (rel: string) => void): void {
  const entries = readdirSync(abs, { withFileTypes: true });
  entries.sort((a, b) => compareStrings(a.name, b.name));
  for (const entry of entries) {
    const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
    const childAbs = path.join(abs, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) walkFiles(childAbs, childRel, visit);
    } else if (entry.isFile()) {
      visit(childRel);
    } else if (entry.isSymbolicLink()) {
      try {
        if (statSync(childAbs).isFile()) visit(childRel);
      } catch {
        // Dangling link: not a file we can hash.
      }
    }
  }
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

