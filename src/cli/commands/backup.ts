/**
 * `reprovm backup create | list | verify | restore | prune`. Destinations are blob stores: a
 * directory or an s3://, gs://, azblob:// URL (`--to` / `--from`, else `[backup] location`,
 * else `<cache_dir>/backups`). The work is in src/ops/backup/.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../../config/schema.js';
import { CacheLockBusyError } from '../../ops/cache-lock.js';
import { formatBytes } from '../../ops/gc-units.js';
import { MissingLocationError, openDestination } from '../../ops/open-remote.js';
import type { BlobStore } from '../../remote/blob-store.js';
import { positiveInt } from '../parse-option.js';
import { describeError, openOpsContext, withOpsOptions, type OpsContext, type OpsIo, type OpsOptions } from './ops-context.js';

/**
 * The backup modules, loaded on first use: they pull in node-tar, which the other commands
 * (and every build) should not pay for at start-up.
 */
async function backupModules() {
  const [archive, catalog, create, restore] = await Promise.all([
    import('../../ops/backup/archive.js'),
    import('../../ops/backup/catalog.js'),
    import('../../ops/backup/create.js'),
    import('../../ops/backup/restore.js'),
  ]);
  return { ...archive, ...catalog, ...create, ...restore };
}

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

/** The backup location: an explicit one, else `[backup] location`, else `<cache_dir>/backups`. */
export function backupLocation(explicit: string | undefined, config: Config, cacheDir: string): string {
  return explicit ?? (config.backup.location !== '' ? config.backup.location : path.join(cacheDir, 'backups'));
}

/** The audit log file of a cache dir as configured (what backups include). */
export function auditFileOf(config: Config, cacheDir: string): string {
  return config.audit.path ? path.resolve(config.audit.path) : path.join(cacheDir, 'audit.log');
}

/** Registers `backup` and its subcommands; `done` receives the exit code. */
export function registerBackupCommand(program: Command, io: OpsIo, done: (code: number) => void): void {
  const backup = program.command('backup').description('back up and restore the cache state (objects, records, audit log, config)');
  const withStore = async (
    opts: OpsOptions,
    location: string | undefined,
    fn: (ctx: OpsContext, store: BlobStore) => Promise<number>,
    create = false,
  ): Promise<void> => {
    const ctx = openOpsContext(opts, io);
    if (ctx === undefined) return done(EXIT_USAGE);
    let store: BlobStore | undefined;
    try {
      // Only `backup create` makes a missing location; reading from a missing --from or
      // [backup] location is an error (a typo must not read as "no backups"). The default
      // <cache_dir>/backups may simply not exist yet.
      const chosen = location !== undefined || ctx.loaded.config.backup.location !== '';
      store = await openDestination(backupLocation(location, ctx.loaded.config, ctx.cacheDir), ctx.loaded, io.env, io.cwd, { create: create || !chosen });
      done(await fn(ctx, store));
    } catch (error) {
      io.stderr.write(`reprovm: error: ${describeError(error)}\n`);
      done(error instanceof CacheLockBusyError || error instanceof MissingLocationError ? EXIT_USAGE : EXIT_FAILED);
    } finally {
      await store?.close().catch(() => undefined);
      await ctx.close();
    }
  };
  const out = (json: boolean | undefined, value: unknown, text: string): void => {
    io.stdout.write(json ? `${JSON.stringify(value)}\n` : text);
  };

  withOpsOptions(backup.command('create'))
    .description('write a .tar.zst backup of the cache state')
    .option('--incremental', 'only the objects the newest backup in the destination does not have (a full backup when there is none)')
    .option('--to <dir|url>', 'destination: a directory or s3://, gs://, azblob:// URL (default: [backup] location, else <cache_dir>/backups)')
    .option('--json', 'print the result as JSON')
    .action((opts: OpsOptions & { incremental?: boolean; to?: string; json?: boolean }) =>
      withStore(opts, opts.to, async (ctx, store) => {
        const { createBackup } = await backupModules();
        const r = await createBackup({
          cacheDir: ctx.cacheDir,
          store,
          incremental: opts.incremental === true,
          auditFile: auditFileOf(ctx.loaded.config, ctx.cacheDir),
          ...(ctx.loaded.file ? { configFile: ctx.loaded.file } : {}),
        });
        ctx.record('backup.created', { name: r.name, kind: r.kind, parent: r.parent, objects: r.objectsStored, bytes: r.bytes });
        out(opts.json, r, `reprovm: backup ${r.name} created in ${store.description}: ${r.objectsStored} of ${r.objectsTotal} objects, ${r.records} records, ${formatBytes(r.bytes)}${r.parent ? ` (on top of ${r.parent})` : ''}\n`);
        return EXIT_OK;
      }, true),
    );

  withOpsOptions(backup.command('list'))
    .description('list the backups in a location, oldest first')
    .option('--from <dir|url>', 'location (default: [backup] location, else <cache_dir>/backups)')
    .option('--json', 'print the list as JSON')
    .action((opts: OpsOptions & { from?: string; json?: boolean }) =>
      withStore(opts, opts.from, async (_ctx, store) => {
        const { listBackups } = await backupModules();
        const list = await listBackups(store);
        const lines = list.map((b) =>
          b.problem ? `${b.name}  UNREADABLE: ${b.problem}` : `${b.name}  ${b.kind}${b.parent ? ` of ${b.parent}` : ''}  ${formatBytes(b.bytes)}  ${b.objects} objects`,
        );
        out(opts.json, list, lines.length > 0 ? `${lines.join('\n')}\n` : `reprovm: no backups in ${store.description}\n`);
        return EXIT_OK;
      }),
    );

  withOpsOptions(backup.command('verify').argument('<name>', 'backup name (see backup list)'))
    .description('check a backup and its chain completely (every digest, every object) without restoring it')
    .option('--from <dir|url>', 'location (default: [backup] location, else <cache_dir>/backups)')
    .option('--json', 'print the result as JSON')
    .action((name: string, opts: OpsOptions & { from?: string; json?: boolean }) =>
      withStore(opts, opts.from, async (_ctx, store) => {
        const { verifyBackup, BackupError } = await backupModules();
        try {
          const r = await verifyBackup(store, name, mkdtempSync(path.join(tmpdir(), 'reprovm-backup-verify-')));
          out(opts.json, { ok: true, ...r }, `reprovm: backup ${name} is sound (${r.chain.length} backups in its chain, ${r.objects} objects, ${r.records} records)\n`);
          return EXIT_OK;
        } catch (error) {
          if (!(error instanceof BackupError)) throw error;
          out(opts.json, { ok: false, name, problem: error.message }, '');
          io.stderr.write(`reprovm: error: ${error.message}\n`);
          return EXIT_FAILED;
        }
      }),
    );

  withOpsOptions(backup.command('restore').argument('<name>', 'backup name (see backup list)'))
    .description('verify a backup (and its chain) completely, then swap it in as the cache; never a half-restored cache')
    .option('--from <dir|url>', 'location (default: [backup] location, else <cache_dir>/backups)')
    .option('--into <dir>', 'cache directory to restore into (default: the cache dir)')
    .option('--json', 'print the result as JSON')
    .action((name: string, opts: OpsOptions & { from?: string; into?: string; json?: boolean }) =>
      withStore(opts, opts.from, async (ctx, store) => {
        const into = opts.into ? path.resolve(io.cwd, opts.into) : ctx.cacheDir;
        const { restoreBackup } = await backupModules();
        const r = await restoreBackup({ store, name, into });
        ctx.record('backup.restored', { name, chain: r.chain, into, objects: r.objects, records: r.records });
        const sideConfig = r.restoredFiles?.includes('reprovm.conf.restored')
          ? `reprovm: the backup's config was written to ${path.join(into, 'reprovm.conf.restored')} (not in effect: move it where your config lives if you want it)\n`
          : '';
        out(opts.json, r, `reprovm: backup ${name} restored into ${into}: ${r.objects} objects, ${r.records} records${r.restoredFiles && r.restoredFiles.length > 0 ? `, ${r.restoredFiles.join(', ')}` : ''}\n${sideConfig}`);
        return EXIT_OK;
      }),
    );

  withOpsOptions(backup.command('prune'))
    .description('keep the N newest full backups and the incrementals that depend on them; delete the rest')
    .requiredOption('--keep <n>', 'full backups to keep', positiveInt)
    .option('--from <dir|url>', 'location (default: [backup] location, else <cache_dir>/backups)')
    .option('--dry-run', 'say what would be deleted; delete nothing')
    .option('--json', 'print the result as JSON')
    .action((opts: OpsOptions & { keep: number; from?: string; dryRun?: boolean; json?: boolean }) =>
      withStore(opts, opts.from, async (ctx, store) => {
        const { pruneBackups } = await backupModules();
        const r = await pruneBackups(store, opts.keep, { dryRun: opts.dryRun === true });
        if (!opts.dryRun && r.deleted.length > 0) ctx.record('backup.pruned', { deleted: r.deleted, kept: r.kept.length });
        const verb = opts.dryRun ? 'would delete' : 'deleted';
        out(opts.json, r, `reprovm: backup prune: kept ${r.kept.length}, ${verb} ${r.deleted.length}${r.deleted.length > 0 ? `: ${r.deleted.join(', ')}` : ''}\n`);
        return EXIT_OK;
      }),
    );
}
