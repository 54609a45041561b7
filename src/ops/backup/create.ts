/**
 * `backup create`: snapshot the cache state into a staging directory inside the cache dir
 * (objects hard-linked: they are immutable, so a link is a snapshot that costs no copy;
 * records, audit log and config copied), write the manifest first, and stream it all as a
 * `.tar.zst` into the store. Runs under the cache lock, so gc and clean cannot remove
 * objects mid-backup. Format: see manifest.ts.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { BlobStore } from '../../remote/blob-store.js';
import { withCacheLock } from '../cache-lock.js';
import { scanObjects, scanRecords } from '../cache-scan.js';
import { hashFile, writeArchive } from './archive.js';
import { sweepLeftovers } from './leftovers.js';
import { backupNames } from './catalog.js';
import { BackupError, readManifest } from './archive.js';
import {
  BACKUP_FORMAT, BACKUP_VERSION, backupKey, backupName, MANIFEST_ENTRY,
  type BackupFile, type BackupKind, type BackupManifest,
} from './manifest.js';

/** Options of {@link createBackup}. */
export interface CreateBackupOptions {
  readonly cacheDir: string;
  readonly store: BlobStore;
  /** Incremental on top of the newest backup in the store (a full one when there is none). */
  readonly incremental: boolean;
  /** The audit log file, when there is one. */
  readonly auditFile?: string;
  /** The configuration file in effect, when there is one. */
  readonly configFile?: string;
  readonly now?: Date;
  readonly lockWaitMs?: number;
}

/** What was created; plain JSON. */
export interface CreatedBackup {
  readonly name: string;
  readonly kind: BackupKind;
  readonly parent: string | null;
  readonly key: string;
  /** Objects in this archive (all of them for a full backup). */
  readonly objectsStored: number;
  readonly objectsTotal: number;
  readonly records: number;
  /** Compressed archive size. */
  readonly bytes: number;
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await link(from, to).catch(() => copyFile(from, to)); // another filesystem or no hard links
}

/**
 * The parent of a new incremental backup: the newest backup whose manifest reads. An unreadable
 * one (torn upload, corruption) is skipped rather than failing every later backup; it is
 * reported by `backup list` and removed by `backup prune`.
 */
async function newestReadable(store: BlobStore): Promise<BackupManifest | undefined> {
  const names = await backupNames(store);
  for (let i = names.length - 1; i >= 0; i--) {
    try {
      return await readManifest(store, names[i]!.name);
    } catch (error) {
      if (!(error instanceof BackupError)) throw error;
    }
  }
  return undefined;
}

/** Take a backup of the cache at `cacheDir` (see the note above). */
export async function createBackup(opts: CreateBackupOptions): Promise<CreatedBackup> {
  return withCacheLock(opts.cacheDir, opts.lockWaitMs ?? 60_000, () => create(opts));
}

async function create(opts: CreateBackupOptions): Promise<CreatedBackup> {
  await sweepLeftovers(opts.cacheDir);
  const parent = opts.incremental ? await newestReadable(opts.store) : undefined;
  const parentName = parent?.name ?? null;
  const kind: BackupKind = parent === undefined ? 'full' : 'incremental';
  const name = backupName(opts.now ?? new Date(), kind);
  const inherited = new Set(parent?.objects ?? []);
  const staging = join(opts.cacheDir, `.backup-staging-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(staging, { recursive: true });
    const files: BackupFile[] = [];
    const add = async (rel: string, from: string): Promise<void> => {
      const to = join(staging, rel);
      await linkOrCopy(from, to);
      files.push({ path: rel, ...(await hashFile(to)) });
    };
    const objects = await scanObjects(opts.cacheDir);
    let stored = 0;
    for (const o of objects) {
      if (inherited.has(o.digest)) continue;
      await add(`cas/objects/${o.digest.slice(0, 2)}/${o.digest.slice(2)}`, o.path);
      stored += 1;
    }
    const records = await scanRecords(opts.cacheDir);
    for (const r of records) {
      // Copied, not linked: a record can be replaced in place by a later run.
      await mkdir(join(staging, 'cache'), { recursive: true });
      await copyFile(r.path, join(staging, 'cache', `${r.key}.json`));
      files.push({ path: `cache/${r.key}.json`, ...(await hashFile(join(staging, 'cache', `${r.key}.json`))) });
    }
    for (const [rel, from] of [['audit.log', opts.auditFile], ['reprovm.conf', opts.configFile]] as const) {
      if (from === undefined || !existsSync(from)) continue;
      await copyFile(from, join(staging, rel)); // a copy: the audit log keeps growing meanwhile
      files.push({ path: rel, ...(await hashFile(join(staging, rel))) });
    }
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      version: BACKUP_VERSION,
      name,
      created: (opts.now ?? new Date()).toISOString(),
      kind,
      parent: parentName,
      objects: objects.map((o) => o.digest),
      files,
      ...(opts.configFile !== undefined && existsSync(join(staging, 'reprovm.conf')) ? { configFrom: resolve(opts.configFile) } : {}),
    };
    await writeFile(join(staging, MANIFEST_ENTRY), `${JSON.stringify(manifest, null, 1)}\n`);
    const top = [MANIFEST_ENTRY, ...['cas', 'cache', 'audit.log', 'reprovm.conf'].filter((p) => existsSync(join(staging, p)))];
    const bytes = await writeArchive(opts.store, backupKey(name), staging, top);
    return { name, kind, parent: parentName, key: backupKey(name), objectsStored: stored, objectsTotal: objects.length, records: records.length, bytes };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
