/**
 * Design note: the backup format (version 1).
 *
 * A backup is one blob `backups/<name>.tar.zst` in a {@link BlobStore} (a local directory or a
 * bucket): a POSIX tar stream compressed as one zstd frame (readable with `zstd -d | tar t`).
 * Entries:
 *   BACKUP.json                  the manifest below, always the FIRST entry, so `list` and
 *                                `prune` read only the start of each archive
 *   cas/objects/<2>/<62>         CAS object files, byte for byte (compressed as stored)
 *   cache/<task key>.json        every action record
 *   audit.log                    the audit log, when there is one
 *   reprovm.conf                 the configuration file in effect, when there is one
 *
 * Names are `<UTC time to the ms>-<full|incremental>`, e.g. `20261122T021500123Z-full`, so
 * sorting names sorts by age. A full backup holds every object; an incremental one holds only
 * the objects its parent's state (the previous backup in the store) did not have, and names its
 * parent. Records, the audit log and the config are small and always included whole.
 *
 * The manifest lists every other entry with its size and SHA-256, and `objects`: every object
 * digest of the state this backup restores (its own plus those inherited through the chain).
 * Restore checks every entry of every backup in the chain against its manifest, rejects
 * entries the manifest does not list, decodes every object against its digest, and checks the
 * chain supplies every object in `objects`; only then is the restored state swapped in.
 *
 * Durability is the store's: the archive is streamed into a temp blob and renamed (directory
 * store) or uploaded in one request (buckets), so a crash leaves no partial backup under the
 * final key. A torn or corrupt archive fails to decode or to match the manifest, and is refused.
 */
import { isHexDigest } from '../../hash/digest.js';

export const MANIFEST_ENTRY = 'BACKUP.json';
export const BACKUP_FORMAT = 'reprovm-backup';
export const BACKUP_VERSION = 1;
export const BACKUP_PREFIX = 'backups/';
export const BACKUP_SUFFIX = '.tar.zst';

export type BackupKind = 'full' | 'incremental';

/** One archived file. */
export interface BackupFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

/** The embedded manifest (BACKUP.json). */
export interface BackupManifest {
  readonly format: typeof BACKUP_FORMAT;
  readonly version: typeof BACKUP_VERSION;
  readonly name: string;
  readonly created: string;
  readonly kind: BackupKind;
  readonly parent: string | null;
  /** Every object digest of the state this backup restores (own + inherited). */
  readonly objects: readonly string[];
  readonly files: readonly BackupFile[];
  /** Absolute path the archived reprovm.conf was taken from (absent in older backups and when none). */
  readonly configFrom?: string;
}

const NAME = /^\d{8}T\d{9}Z-(full|incremental)$/;

/** A backup name for `now` and `kind`. */
export function backupName(now: Date, kind: BackupKind): string {
  const iso = now.toISOString(); // 2026-11-22T02:15:00.123Z
  return `${iso.slice(0, 19).replace(/[-:]/g, '')}${iso.slice(20, 23)}Z-${kind}`;
}

/** True if `name` is a backup name (guards keys built from user input). */
export const isBackupName = (name: string): boolean => NAME.test(name);

/** The store key of a backup. */
export const backupKey = (name: string): string => `${BACKUP_PREFIX}${name}${BACKUP_SUFFIX}`;

/** A safe archive path: relative, posix, no `.`/`..` segments. */
export function isSafeArchivePath(p: string): boolean {
  return p !== '' && !p.startsWith('/') && !p.includes('\\') && !p.includes('\0') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/** Parse and check a manifest; a string says what is wrong. */
export function parseManifest(text: string): BackupManifest | string {
  let m: Partial<BackupManifest>;
  try {
    m = JSON.parse(text) as Partial<BackupManifest>;
  } catch {
    return 'BACKUP.json is not valid JSON';
  }
  if (m.format !== BACKUP_FORMAT) return 'BACKUP.json is not a reprovm backup manifest';
  if (m.version !== BACKUP_VERSION) return `unsupported backup format version ${JSON.stringify(m.version)}`;
  if (typeof m.name !== 'string' || !isBackupName(m.name)) return 'the manifest names no valid backup';
  if (m.kind !== 'full' && m.kind !== 'incremental') return 'the manifest has no valid kind';
  if (m.kind === 'incremental' ? typeof m.parent !== 'string' || !isBackupName(m.parent) : m.parent !== null) return 'the manifest has an invalid parent';
  if (typeof m.created !== 'string' || Number.isNaN(Date.parse(m.created))) return 'the manifest has no valid creation time';
  if (!Array.isArray(m.objects) || !m.objects.every((d) => typeof d === 'string' && isHexDigest(d))) return 'the manifest has an invalid object list';
  if (!Array.isArray(m.files)) return 'the manifest has no file list';
  if (m.configFrom !== undefined && typeof m.configFrom !== 'string') return 'the manifest has an invalid configFrom';
  for (const f of m.files) {
    if (typeof f?.path !== 'string' || !isSafeArchivePath(f.path) || f.path === MANIFEST_ENTRY) return 'the manifest lists an unsafe path';
    if (!Number.isSafeInteger(f.size) || f.size < 0 || typeof f.sha256 !== 'string' || !isHexDigest(f.sha256)) return `the manifest entry for ${f.path} is invalid`;
  }
  return m as BackupManifest;
}
