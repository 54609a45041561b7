/**
 * What a run does for the cache after the build, inside the workspace lock, never failing the
 * run (each problem is one warning through the logger):
 * - appends the run to the cache's run history (`cache stats` hit rates);
 * - `[cache] max_cache_size_mb` / `max_age_days`: an automatic gc (skipped when another
 *   maintenance job holds the cache lock);
 * - `[backup] auto_backup`: after a successful run, a backup when one is due (backup/auto.ts).
 */
import path from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import type { RunSummary } from '../events/events.js';
import type { Logger } from '../log/logger.js';
import type { AuditLog } from '../ops/audit-log.js';
import { gcCache } from '../ops/cache-gc.js';
import { appendRunStats } from '../ops/run-history.js';
import { openDestination } from '../ops/open-remote.js';
import { auditFileOf, backupLocation } from './commands/backup.js';

/** Inputs of {@link afterRunMaintenance}. */
export interface AfterRun {
  readonly cacheDir: string;
  readonly workspace: string;
  readonly loaded: LoadedConfig;
  readonly summary: RunSummary;
  readonly exitCode: number;
  readonly audit: AuditLog | undefined;
  readonly env: NodeJS.ProcessEnv;
  /** Where the warnings go (honours --log-level, copies to --log-file). */
  readonly logger: Logger;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Run history, automatic gc and automatic backup (see the note above). */
export async function afterRunMaintenance(a: AfterRun): Promise<void> {
  const warn = (m: string): void => a.logger.warn(m);
  const s = a.summary;
  appendRunStats(a.cacheDir, {
    time: new Date().toISOString(), workspace: a.workspace, total: s.total, executed: s.executed,
    cached: s.cached, failed: s.failed, skipped: s.skipped, wallMs: s.wallMs,
  });
  if (s.interrupted) return;
  const c = a.loaded.config;
  const mb = c.cache.max_cache_size_mb;
  const days = c.cache.max_age_days;
  if (mb > 0 || days > 0) {
    try {
      const r = await gcCache(a.cacheDir, {
        dryRun: false,
        lockWaitMs: 0,
        ...(mb > 0 ? { maxBytes: mb * 1024 * 1024 } : {}),
        ...(days > 0 ? { maxAgeMs: days * 86_400_000 } : {}),
      });
      if (r.recordsEvicted + r.objectsEvicted > 0) {
        a.audit?.append('cache.evicted', { trigger: 'auto', records: r.recordsEvicted, objects: r.objectsEvicted, bytes: r.bytesFreed });
      }
    } catch (error) {
      warn(`automatic cache gc skipped: ${message(error)}`);
    }
  }
  if (c.backup.auto_backup && a.exitCode === 0) {
    try {
      const store = await openDestination(backupLocation(undefined, c, a.cacheDir), a.loaded, a.env, path.dirname(a.cacheDir));
      try {
        const { autoBackup } = await import('../ops/backup/auto.js');
        const r = await autoBackup({
          cacheDir: a.cacheDir,
          store,
          minIntervalMs: c.backup.min_interval * 1000,
          incremental: c.backup.incremental,
          keep: c.backup.keep,
          auditFile: auditFileOf(c, a.cacheDir),
          ...(a.loaded.file ? { configFile: a.loaded.file } : {}),
        });
        if (r.created) a.audit?.append('backup.created', { name: r.created.name, kind: r.created.kind, parent: r.created.parent, trigger: 'auto' });
        if (r.pruned && r.pruned.deleted.length > 0) a.audit?.append('backup.pruned', { deleted: r.pruned.deleted, trigger: 'auto' });
      } finally {
        await store.close().catch(() => undefined);
      }
    } catch (error) {
      warn(`automatic backup failed: ${message(error)}`);
    }
  }
}
