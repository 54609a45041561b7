import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ObjectStore } from '../cas/object-store.js';
import { restoreOutputs } from '../cache/restore.js';
import { WorkspaceWriter } from '../cache/workspace-paths.js';
import type { FileDigest } from '../hash/digest.js';
import { expandInputs } from '../hash/expand-inputs.js';
import { FileHasher, StatMemo } from '../hash/file-hasher.js';
import { lstatOrUndefined } from '../util/fs.js';
import type { ReproCandidate } from './repro-candidates.js';

/*
 * A scratch directory that looks, to one task's command, like the workspace: the task's input
 * files copied at the same relative paths (executable bit kept) and its dependencies' cached
 * outputs restored from the CAS. The workspace is only ever read.
 */

/** A fresh scratch directory; `remove` deletes it (idempotent). */
export interface Scratch {
  readonly dir: string;
  remove(): void;
}

/**
 * Creates a scratch directory for `candidate` under the system temp dir and fills it.
 * Throws (after removing the directory) when an input or a dependency output cannot be put in
 * place; the message says which.
 */
export async function prepareScratch(workspace: string, candidate: ReproCandidate, store: ObjectStore): Promise<Scratch> {
  const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-repro-'));
  const scratch: Scratch = { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
  try {
    const hasher = new FileHasher(new StatMemo());
    for (const dep of candidate.deps) {
      const restored = await restoreOutputs(dir, dep.declared, dep.record, store, hasher);
      if (!restored.ok) throw new Error(`cannot restore the outputs of dependency "${dep.task}": ${restored.error.message}`);
    }
    const writer = new WorkspaceWriter(dir);
    const inputs = expandInputs(workspace, candidate.spec.inputs.map((i) => i.value));
    if (inputs.missing.length > 0) throw new Error(`input "${inputs.missing[0]}" not found`);
    for (const rel of inputs.files) {
      if (path.isAbsolute(rel)) continue; // an opted-in absolute input is read where it is
      const src = path.join(workspace, rel);
      const dest = writer.prepareParents(rel);
      rmSync(dest, { recursive: true, force: true });
      copyFileSync(src, dest); // follows a symlinked input, as hashing does
      chmodSync(dest, (statSync(src).mode & 0o111) !== 0 ? 0o755 : 0o644);
    }
    // As before a real run: declared outputs do not exist yet, their parents do.
    for (const out of candidate.spec.outputs) {
      const abs = writer.prepareParents(out.value);
      rmSync(abs, { recursive: true, force: true });
    }
  } catch (error) {
    scratch.remove();
    throw error;
  }
  return scratch;
}

/** One output as found after a re-execution, by relative path. */
export interface ProducedEntry {
  readonly kind: 'file' | 'dir' | 'symlink' | 'other';
  readonly digest?: FileDigest;
  readonly target?: string;
}

/**
 * What the command left at its declared outputs in `dir`: every file (with its SHA-256),
 * directory and symlink, walking declared directories. A missing declared output is absent.
 */
export function snapshotOutputs(dir: string, declared: readonly string[]): Map<string, ProducedEntry> {
  const out = new Map<string, ProducedEntry>();
  const visit = (rel: string): void => {
    const abs = path.join(dir, ...rel.split('/'));
    const st = lstatOrUndefined(abs);
    if (!st) return;
    if (st.isSymbolicLink()) out.set(rel, { kind: 'symlink', target: readlinkSync(abs) });
    else if (st.isFile()) out.set(rel, { kind: 'file', digest: sha256File(abs) });
    else if (st.isDirectory()) {
      out.set(rel, { kind: 'dir' });
      for (const name of readdirSync(abs).sort()) visit(`${rel}/${name}`);
    } else out.set(rel, { kind: 'other' });
  };
  for (const rel of declared) visit(rel);
  return out;
}

function sha256File(abs: string): FileDigest {
  return createHash('sha256').update(readFileSync(abs)).digest('hex') as FileDigest;
}

