import { mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { inlineBlob, type ActionRecord, type OutputEntry } from '../cas/action-cache.js';
import type { ObjectStore } from '../cas/object-store.js';
import { err, ok, type Result } from '../errors/result.js';
import type { FileDigest } from '../hash/digest.js';
import type { FileHasher } from '../hash/file-hasher.js';
import type { OutputStat } from '../state/workspace-state.js';
import { replaceFileSync } from '../util/atomic-write.js';
import { lstatOrUndefined } from '../util/fs.js';
import { outputStat } from './collect-outputs.js';
import { PathEscapeError, WorkspaceWriter } from './workspace-paths.js';

export interface RestoreStats {
  readonly files: number;
  readonly bytes: number;
  readonly stats: OutputStat[];
}

export interface RestoreError {
  readonly kind: 'corrupt' | 'missing' | 'unsafe' | 'io';
  readonly message: string;
}

/**
 * Puts a cached result back into the workspace. Files that already match are left alone;
 * others are written atomically by the object store (verified while streaming, so bad bytes
 * never land). Declared output directories are made exact: entries that are not part of the
 * result are removed. Nothing is written outside the workspace or through a symlink. Blobs the
 * record carries inline are written from the record: every reader of a record (ActionCache.get,
 * the remote parser) has checked their digests already.
 */
export async function restoreOutputs(
  workspace: string,
  declared: readonly string[],
  record: Pick<ActionRecord, 'outputs' | 'inline'>,
  store: ObjectStore,
  hasher: FileHasher,
): Promise<Result<RestoreStats, RestoreError>> {
  const entries = record.outputs;
  const writer = new WorkspaceWriter(workspace);
  const wanted = new Map(entries.map((e) => [e.path, e]));
  let files = 0;
  let bytes = 0;
  try {
    for (const rel of declared) {
      if (wanted.get(rel)?.kind === 'dir') removeExtras(workspace, rel, wanted);
    }
    writer.forget();
    for (const entry of [...entries].sort((a, b) => (a.path < b.path ? -1 : 1))) {
      const abs = writer.prepareParents(entry.path);
      const current = lstatOrUndefined(abs);
      switch (entry.kind) {
        case 'dir':
          if (current?.isDirectory()) break;
          if (current) rmSync(abs, { recursive: true, force: true });
          mkdirSync(abs);
          break;
        case 'symlink':
          if (current?.isSymbolicLink() && readlinkSync(abs) === entry.target) break;
          if (current) rmSync(abs, { recursive: true, force: true });
          symlinkSync(entry.target ?? '', abs);
          break;
        case 'file': {
          const digest = entry.digest as FileDigest;
          if (current?.isFile() && current.size === entry.size && (current.mode & 0o111) !== 0 === (entry.mode === 0o755)) {
            const facts = await hasher.hashFile(abs, entry.path);
            if (facts.digest === digest) break;
          }
          if (current && !current.isFile()) rmSync(abs, { recursive: true, force: true });
          const inline = inlineBlob(record, digest);
          if (inline !== undefined) {
            replaceFileSync(abs, inline, entry.mode ?? 0o644);
            files += 1;
            bytes += inline.length;
            break;
          }
          const restored = await store.restoreTo(digest, abs, entry.mode ?? 0o644);
          if (!restored.ok) {
            const kind = restored.error.kind === 'corrupt' || restored.error.kind === 'missing' ? restored.error.kind : 'io';
            return err({ kind, message: restored.error.message });
          }
          files += 1;
          bytes += restored.value.bytes;
          break;
        }
      }
    }
  } catch (error) {
    if (error instanceof PathEscapeError) return err({ kind: 'unsafe', message: error.message });
    return err({ kind: 'io', message: error instanceof Error ? error.message : String(error) });
  }
  const stats = entries
    .filter((e) => e.kind === 'file')
    .map((e) => outputStat(workspace, e.path))
    .filter((s): s is OutputStat => s !== undefined);
  return ok({ files, bytes, stats });
}

/** Removes everything under a declared output directory that the result does not contain. */
function removeExtras(workspace: string, rel: string, wanted: ReadonlyMap<string, OutputEntry>): void {
  const abs = path.join(workspace, rel);
  const st = lstatOrUndefined(abs);
  if (!st) return;
  if (!st.isDirectory()) {
    rmSync(abs, { force: true });
    return;
  }
  for (const name of readdirSync(abs)) {
    const childRel = `${rel}/${name}`;
    const want = wanted.get(childRel);
    const childAbs = path.join(abs, name);
    if (!want) {
      rmSync(childAbs, { recursive: true, force: true });
    } else if (want.kind === 'dir') {
      removeExtras(workspace, childRel, wanted);
    }
  }
}

