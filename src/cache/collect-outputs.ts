import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { addInline, type OutputEntry } from '../cas/action-cache.js';
import type { ObjectStore } from '../cas/object-store.js';
import type { FileDigest } from '../hash/digest.js';
import { err, ok, type Result } from '../errors/result.js';
import type { TaskFailure } from '../events/events.js';
import type { OutputStat } from '../state/workspace-state.js';

/** What a task left behind: entries for the action record, and their stat for the up-to-date check. */
export interface CollectedOutputs {
  readonly entries: OutputEntry[];
  readonly stats: OutputStat[];
  readonly bytesStored: number;
  /** Content (base64) of the files of at most `inlineMax` bytes, by digest: they go into the record, not the store. */
  readonly inline: Record<string, string>;
}

const STORE_CONCURRENCY = 8;

/**
 * Stores every declared output of a finished task in the CAS. A declared output that is
 * missing, or something that is not a file, directory or symlink, fails the task: a result
 * that does not match its declaration is never cached. Files of at most `inlineMax` bytes are
 * not stored: their content is returned for the action record (see INLINE_MAX).
 */
export async function collectOutputs(
  workspace: string,
  task: string,
  declared: readonly string[],
  store: ObjectStore,
  inlineMax = 0,
): Promise<Result<CollectedOutputs, TaskFailure>> {
  const entries: OutputEntry[] = [];
  const files: OutputEntry[] = [];
  for (const rel of declared) {
    const abs = path.join(workspace, rel);
    let st;
    try {
      st = lstatSync(abs);
    } catch {
      return err({ reason: 'output-missing', message: `task "${task}" did not produce its declared output "${rel}"` });
    }
    const problem = addEntry(abs, rel, st, entries, files);
    if (problem) return err({ reason: 'output-invalid', message: `task "${task}": ${problem}` });
  }

  let bytesStored = 0;
  let failure: TaskFailure | undefined;
  let next = 0;
  const inline: Record<string, string> = {};
  const worker = async (): Promise<void> => {
    while (next < files.length && !failure) {
      const entry = files[next++]!;
      const put = await storeFile(store, path.join(workspace, entry.path), inlineMax, inline);
      if (!put.ok) {
        failure = { reason: 'cache-write', message: `could not store output "${entry.path}" of task "${task}": ${put.error.message}` };
        return;
      }
      Object.assign(entry, { digest: put.value.digest, size: put.value.size });
      if (put.value.stored) bytesStored += put.value.size;
    }
  };
  await Promise.all(Array.from({ length: Math.min(STORE_CONCURRENCY, files.length) }, worker));
  if (failure) return err(failure);

  const stats = files.map((f) => outputStat(workspace, f.path)).filter((s): s is OutputStat => s !== undefined);
  return ok({ entries, stats, bytesStored, inline });
}

/** Up to this size an output is read in one synchronous call and hashed on the spot. */
const SMALL_OUTPUT = 256 * 1024;

async function storeFile(store: ObjectStore, abs: string, inlineMax: number, inline: Record<string, string>): ReturnType<ObjectStore['putFile']> {
  const st = lstatSync(abs);
  if (st.size > SMALL_OUTPUT) return store.putFile(abs);
  const buf = readFileSync(abs);
  if (inlineMax > 0 && buf.length <= inlineMax) return ok({ digest: addInline(inline, buf), size: buf.length, stored: true });
  return store.putKnownBuffer(buf, createHash('sha256').update(buf).digest('hex') as FileDigest);
}

function addEntry(
  abs: string,
  rel: string,
  st: import('node:fs').Stats,
  entries: OutputEntry[],
  files: OutputEntry[],
): string | undefined {
  if (st.isSymbolicLink()) {
    entries.push({ path: rel, kind: 'symlink', target: readlinkSync(abs) });
  } else if (st.isFile()) {
    const entry: OutputEntry = { path: rel, kind: 'file', mode: st.mode & 0o111 ? 0o755 : 0o644 };
    entries.push(entry);
    files.push(entry);
  } else if (st.isDirectory()) {
    entries.push({ path: rel, kind: 'dir' });
    const names = readdirSync(abs).sort();
    for (const name of names) {
      const problem = addEntry(path.join(abs, name), `${rel}/${name}`, lstatSync(path.join(abs, name)), entries, files);
      if (problem) return problem;
    }
  } else {
    return `output "${rel}" is neither a file, a directory nor a symlink`;
  }
  return undefined;
}

/** The stat identity of a file as it is now; undefined if it is gone. */
export function outputStat(workspace: string, rel: string): OutputStat | undefined {
  try {
    const st: BigIntStats = lstatSync(path.join(workspace, rel), { bigint: true });
    return { path: rel, size: Number(st.size), mtimeNs: st.mtimeNs.toString(), ino: st.ino.toString() };
  } catch {
    return undefined;
  }
}
