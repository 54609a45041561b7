/**
 * The backups in a store: list them (reading only each manifest), resolve the chain an
 * incremental backup depends on, and prune to the N newest full backups plus the incrementals
 * that depend on them.
 */
import type { BlobStore } from '../../remote/blob-store.js';
import { BackupError, readManifest } from './archive.js';
import { BACKUP_PREFIX, BACKUP_SUFFIX, backupKey, isBackupName, type BackupKind, type BackupManifest } from './manifest.js';

/** One backup as `backup list` shows it; plain JSON. */
export interface BackupSummary {
  readonly name: string;
  readonly kind: BackupKind;
  readonly parent: string | null;
  readonly created: string;
  /** Size of the archive blob. */
  readonly bytes: number;
  readonly files: number;
  readonly objects: number;
  /** The manifest could not be read: the problem. */
  readonly problem?: string;
}

/** Names of the backups in `store`, oldest first. */
export async function backupNames(store: BlobStore): Promise<{ name: string; bytes: number }[]> {
  const out: { name: string; bytes: number }[] = [];
  for await (const b of store.list(BACKUP_PREFIX)) {
    const rest = b.key.slice(BACKUP_PREFIX.length);
    if (!rest.endsWith(BACKUP_SUFFIX)) continue;
    const name = rest.slice(0, -BACKUP_SUFFIX.length);
    if (isBackupName(name)) out.push({ name, bytes: b.size });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Every backup with its manifest summary, oldest first. */
export async function listBackups(store: BlobStore): Promise<BackupSummary[]> {
  const out: BackupSummary[] = [];
  for (const { name, bytes } of await backupNames(store)) {
    try {
      const m = await readManifest(store, name);
      out.push({ name, kind: m.kind, parent: m.parent, created: m.created, bytes, files: m.files.length, objects: m.objects.length });
    } catch (error) {
      const kind: BackupKind = name.endsWith('-full') ? 'full' : 'incremental';
      out.push({ name, kind, parent: null, created: '', bytes, files: 0, objects: 0, problem: error instanceof Error ? error.message : String(error) });
    }
  }
  return out;
}

/** The chain of `name`: [the full backup, ..., name]. Throws {@link BackupError} if broken. */
export async function resolveChain(store: BlobStore, name: string): Promise<BackupManifest[]> {
  const chain: BackupManifest[] = [];
  const seen = new Set<string>();
  let cur: string | null = name;
  while (cur !== null) {
    if (seen.has(cur)) throw new BackupError(`backup ${name}: its chain loops at ${cur}`);
    seen.add(cur);
    if (!(await store.has(backupKey(cur)))) {
      throw new BackupError(cur === name ? `backup ${name} does not exist in ${store.description}` : `backup ${name} needs ${cur}, which is missing (chain broken)`);
    }
    const m = await readManifest(store, cur);
    chain.unshift(m);
    cur = m.parent;
  }
  return chain;
}

/** What {@link pruneBackups} did; plain JSON. */
export interface PruneReport {
  readonly kept: readonly string[];
  readonly deleted: readonly string[];
}

/**
 * Keep the `keep` newest full backups and every incremental whose chain leads to one of them;
 * delete the rest (including incrementals whose chain is broken).
 */
export async function pruneBackups(store: BlobStore, keep: number, opts: { dryRun?: boolean } = {}): Promise<PruneReport> {
  const all = await listBackups(store);
  const byName = new Map(all.map((b) => [b.name, b]));
  const fulls = all.filter((b) => b.kind === 'full' && b.problem === undefined).map((b) => b.name);
  const keptFulls = new Set(keep > 0 ? fulls.slice(-keep) : []);
  const rootOf = (name: string): string | undefined => {
    const seen = new Set<string>();
    let cur: BackupSummary | undefined = byName.get(name);
    while (cur !== undefined && cur.kind === 'incremental' && cur.parent !== null && !seen.has(cur.name)) {
      seen.add(cur.name);
      cur = byName.get(cur.parent);
    }
    return cur?.kind === 'full' && cur.problem === undefined ? cur.name : undefined;
  };
  const kept: string[] = [];
  const deleted: string[] = [];
  for (const b of all) {
    const root = b.problem === undefined ? rootOf(b.name) : undefined;
    if (root !== undefined && keptFulls.has(root)) kept.push(b.name);
    else deleted.push(b.name);
  }
  // Newest first, so a crash midway never leaves an incremental whose parent is gone but which is still kept.
  if (!opts.dryRun) for (const name of [...deleted].reverse()) await store.delete(backupKey(name));
  return { kept, deleted };
}
