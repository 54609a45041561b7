/**
 * `[backup] auto_backup = 1`: after a successful run, take a backup unless the newest one in
 * the store is younger than `min_interval`; incremental per `[backup] incremental`, then prune
 * per `[backup] keep`. The caller reports failures as warnings: a backup never fails a run.
 */
import type { BlobStore } from '../../remote/blob-store.js';
import { backupNames, pruneBackups, type PruneReport } from './catalog.js';
import { createBackup, type CreatedBackup } from './create.js';

/** Parse the time out of a backup name (`20261122T021500123Z-full`). */
export function backupTime(name: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(name);
  if (!m) return 0;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), Number(m[7]));
}

/** What an automatic backup did. */
export interface AutoBackupResult {
  readonly created?: CreatedBackup;
  /** Why none was taken. */
  readonly skipped?: string;
  readonly pruned?: PruneReport;
}

/** Take an automatic backup if one is due (see the note above). */
export async function autoBackup(opts: {
  cacheDir: string;
  store: BlobStore;
  minIntervalMs: number;
  incremental: boolean;
  keep: number;
  auditFile?: string;
  configFile?: string;
  now?: Date;
}): Promise<AutoBackupResult> {
  const now = opts.now ?? new Date();
  const names = await backupNames(opts.store);
  const newest = names.length > 0 ? backupTime(names[names.length - 1]!.name) : 0;
  if (newest > 0 && now.getTime() - newest < opts.minIntervalMs) return { skipped: 'the last backup is younger than min_interval' };
  const created = await createBackup({
    cacheDir: opts.cacheDir,
    store: opts.store,
    incremental: opts.incremental,
    now,
    lockWaitMs: 0,
    ...(opts.auditFile === undefined ? {} : { auditFile: opts.auditFile }),
    ...(opts.configFile === undefined ? {} : { configFile: opts.configFile }),
  });
  const pruned = opts.keep > 0 ? await pruneBackups(opts.store, opts.keep) : undefined;
  return { created, ...(pruned ? { pruned } : {}) };
}
