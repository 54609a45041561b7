/**
 * `reprovm cache clean`: delete every object and action record (and both quarantines) under
 * the cache lock. Directory structure and `cas/tmp/` are left alone: a build writing into the
 * shared cache at the same moment keeps its temp files and directories, so its writes still
 * succeed (it merely loses the cache entries written before the clean, which is the point).
 * Workspace state, the audit log, backups and the run history are not cache content and stay.
 */
import { readdir, rm, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { withCacheLock } from './cache-lock.js';
import { objectsDir, recordsDir, scanObjects, scanRecords } from './cache-scan.js';

/** Result of {@link cleanCache}; plain JSON. */
export interface CleanReport {
  objectsRemoved: number;
  recordsRemoved: number;
  bytesFreed: number;
}

const removed = (p: string): Promise<boolean> => unlink(p).then(() => true, () => false);

/** Remove all cache content at `cacheDir` (see the note above). */
export async function cleanCache(cacheDir: string, opts: { lockWaitMs?: number } = {}): Promise<CleanReport> {
  return withCacheLock(cacheDir, opts.lockWaitMs ?? 60_000, async () => {
    const report: CleanReport = { objectsRemoved: 0, recordsRemoved: 0, bytesFreed: 0 };
    for (const r of await scanRecords(cacheDir)) {
      if (!(await removed(r.path))) continue;
      report.recordsRemoved += 1;
      report.bytesFreed += r.size;
    }
    for (const o of await scanObjects(cacheDir)) {
      if (!(await removed(o.path))) continue;
      report.objectsRemoved += 1;
      report.bytesFreed += o.size;
    }
    // Empty fan-out directories are removed (a concurrent writer recreates one on demand).
    for (const sub of await readdir(objectsDir(cacheDir)).catch(() => [] as string[])) {
      await rmdir(join(objectsDir(cacheDir), sub)).catch(() => undefined); // ENOTEMPTY: a writer was quicker
    }
    await rm(join(cacheDir, 'cas', 'quarantine'), { recursive: true, force: true });
    await rm(join(recordsDir(cacheDir), 'quarantine'), { recursive: true, force: true });
    return report;
  });
}
