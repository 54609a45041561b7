/**
 * Read-only walks over a cache directory shared by the maintenance commands (stats, verify, gc,
 * backup): every object file and every action record with its size and mtime, and the blobs a
 * record references. Nothing here writes or quarantines.
 *
 * Layout (see src/cas/object-store.ts and src/cas/action-cache.ts):
 *   <cache_dir>/cas/objects/<2 hex>/<62 hex>   objects
 *   <cache_dir>/cas/quarantine/                objects that failed verification
 *   <cache_dir>/cache/<task key>.json          action records
 *   <cache_dir>/cache/quarantine/              records that failed verification
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ActionCache, type ActionRecord } from '../cas/action-cache.js';
import { isHexDigest, type FileDigest, type TaskKey } from '../hash/digest.js';

/** One object file on disk. */
export interface ObjectEntry {
  readonly digest: FileDigest;
  readonly path: string;
  /** Bytes on disk (compressed, header included). */
  readonly size: number;
  readonly mtimeMs: number;
}

/** One action record file on disk; `record` is undefined when it does not parse or verify. */
export interface RecordEntry {
  readonly key: TaskKey;
  readonly path: string;
  readonly size: number;
  /** "Last used": lookups touch the record on every hit (src/exec/cache-lookup.ts). */
  readonly mtimeMs: number;
  readonly record: ActionRecord | undefined;
  /** Why the record is unusable, when it is. */
  readonly problem?: string;
}

export const objectsDir = (cacheDir: string): string => join(cacheDir, 'cas', 'objects');
export const recordsDir = (cacheDir: string): string => join(cacheDir, 'cache');

/** Every object file (names that are not digests are skipped). */
export async function scanObjects(cacheDir: string): Promise<ObjectEntry[]> {
  const root = objectsDir(cacheDir);
  const out: ObjectEntry[] = [];
  const subs = await readdir(root).catch(() => [] as string[]);
  for (const sub of subs.sort()) {
    if (!/^[0-9a-f]{2}$/.test(sub)) continue;
    const names = await readdir(join(root, sub)).catch(() => [] as string[]);
    await Promise.all(
      names.map(async (name) => {
        if (!isHexDigest(sub + name)) return;
        const p = join(root, sub, name);
        const st = await stat(p).catch(() => undefined);
        if (st?.isFile()) out.push({ digest: (sub + name) as FileDigest, path: p, size: st.size, mtimeMs: st.mtimeMs });
      }),
    );
  }
  return out.sort((a, b) => (a.digest < b.digest ? -1 : 1));
}

/** Every action record file with its size and mtime, without reading it (cheap). */
export async function scanRecordFiles(cacheDir: string): Promise<{ key: TaskKey; path: string; size: number; mtimeMs: number }[]> {
  const out: { key: TaskKey; path: string; size: number; mtimeMs: number }[] = [];
  for await (const key of new ActionCache(cacheDir).list()) {
    const p = join(recordsDir(cacheDir), `${key}.json`);
    const st = await stat(p).catch(() => undefined);
    if (st?.isFile()) out.push({ key, path: p, size: st.size, mtimeMs: st.mtimeMs });
  }
  return out;
}

/** Every action record, parsed and checked (corrupt ones carry `problem`; none is moved). */
export async function scanRecords(cacheDir: string): Promise<RecordEntry[]> {
  const actions = new ActionCache(cacheDir);
  const out: RecordEntry[] = [];
  for await (const key of actions.list()) {
    const p = join(recordsDir(cacheDir), `${key}.json`);
    const st = await stat(p).catch(() => undefined);
    if (!st?.isFile()) continue;
    const found = await actions.get(key, { quarantine: false });
    if (found.kind === 'hit') out.push({ key, path: p, size: st.size, mtimeMs: st.mtimeMs, record: found.record });
    else if (found.kind === 'corrupt') out.push({ key, path: p, size: st.size, mtimeMs: st.mtimeMs, record: undefined, problem: found.message });
  }
  return out;
}


/** Count and bytes of the files directly in a directory (quarantine dirs). */
export async function dirUsage(dir: string): Promise<{ files: number; bytes: number }> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let files = 0;
  let bytes = 0;
  for (const name of names) {
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (!st?.isFile()) continue;
    files += 1;
    bytes += st.size;
  }
  return { files, bytes };
}
