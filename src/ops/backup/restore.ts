/**
 * `backup restore` and `backup verify`.
 *
 * Restore: every backup of the chain (full … name) is unpacked into its own directory under
 * `<target>/.restore-<random>/` (same filesystem as the target, so the final moves are
 * renames) and checked completely (archive.ts). The state of `name` is then assembled: every
 * object its manifest lists, taken from the newest chain member that has it, plus the records
 * of `name`. Only when all of that succeeded is it swapped in, under the cache lock:
 * `<target>/cas/objects` and `<target>/cache` are renamed aside and the restored ones renamed
 * into place, then the old ones are removed (swap.ts; a failed or interrupted swap is rolled
 * back). A corrupt or incomplete backup therefore leaves the target untouched. The audit log is
 * restored only where the target has none (a live audit log is never replaced by an older copy:
 * that would cut its hash chain short); the config goes to a side path (see configTarget).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BlobStore } from '../../remote/blob-store.js';
import { withCacheLock } from '../cache-lock.js';
import { BackupError, extractArchive } from './archive.js';
import { resolveChain } from './catalog.js';
import { sweepLeftovers } from './leftovers.js';
import { isBackupName, type BackupManifest } from './manifest.js';
import { swapIn, SwapRollbackError, type ConfigTarget, type SwapOptions } from './swap.js';

/** What a restore or verify did; plain JSON. */
export interface RestoreReport {
  readonly name: string;
  /** The backups read, full first. */
  readonly chain: readonly string[];
  readonly objects: number;
  readonly records: number;
  /** Where it went (restore only). */
  readonly into?: string;
  /**
   * Files written next to the cache: `audit.log` (only where the target had none), and the
   * archived config as `reprovm.conf` when that is where it was taken from, else as
   * `reprovm.conf.restored` (a config in the cache dir would override the one in effect).
   */
  readonly restoredFiles?: readonly string[];
}

const objectRel = (d: string): string => join('cas', 'objects', d.slice(0, 2), d.slice(2));

async function moveInto(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await rename(from, to);
}

/** Unpack and check the chain of `name` under `work`; returns the assembled state directory. */
async function assemble(store: BlobStore, name: string, work: string): Promise<{ dir: string; chain: BackupManifest[]; records: number }> {
  if (!isBackupName(name)) throw new BackupError(`"${name}" is not a backup name (see backup list)`);
  const chain = await resolveChain(store, name);
  const dirs: string[] = [];
  for (const [i, m] of chain.entries()) {
    const dir = join(work, `part-${i}`);
    await mkdir(dir, { recursive: true });
    await extractArchive(store, m.name, dir);
    dirs.push(dir);
  }
  const leaf = chain[chain.length - 1]!;
  const leafDir = dirs[dirs.length - 1]!;
  const state = join(work, 'state');
  await mkdir(join(state, 'cas', 'objects'), { recursive: true });
  for (const d of leaf.objects) {
    const from = [...dirs].reverse().map((dir) => join(dir, objectRel(d))).find((p) => existsSync(p));
    if (from === undefined) throw new BackupError(`backup ${name}: object ${d} is in none of the backups of its chain (chain broken)`);
    await moveInto(from, join(state, objectRel(d)));
  }
  await mkdir(join(state, 'cache'), { recursive: true });
  if (existsSync(join(leafDir, 'cache'))) {
    await rm(join(state, 'cache'), { recursive: true });
    await rename(join(leafDir, 'cache'), join(state, 'cache'));
  }
  for (const f of ['audit.log', 'reprovm.conf']) if (existsSync(join(leafDir, f))) await rename(join(leafDir, f), join(state, f));
  const records = (await readdir(join(state, 'cache'))).filter((n) => n.endsWith('.json')).length;
  return { dir: state, chain, records };
}

/**
 * Where the archived config goes: back to `<into>/reprovm.conf` only when that is the file it
 * was taken from (and none is there now); anywhere else a config in the cache dir would come
 * before the one in effect (e.g. /etc/reprovm/reprovm.conf) in the lookup order and resolve its
 * relative paths against the cache dir, so it goes to the side path `reprovm.conf.restored`.
 */
function configTarget(leaf: BackupManifest, into: string): ConfigTarget {
  return leaf.configFrom === join(into, 'reprovm.conf') ? { file: 'reprovm.conf', replace: false } : { file: 'reprovm.conf.restored', replace: true };
}

/** Check a backup and its whole chain without restoring it. `scratch`: an empty temp dir, removed after. */
/**
 * Removing a scratch directory after a failed extraction can race the unpacker's last file
 * writes (ENOTEMPTY): retried briefly, so the user sees the backup's error, not the clean-up's.
 */
const SCRATCH_RM = { recursive: true, force: true, maxRetries: 10, retryDelay: 50 } as const;

export async function verifyBackup(store: BlobStore, name: string, scratch: string): Promise<RestoreReport> {
  try {
    const { chain, records } = await assemble(store, name, scratch);
    return { name, chain: chain.map((m) => m.name), objects: chain[chain.length - 1]!.objects.length, records };
  } finally {
    await rm(scratch, SCRATCH_RM);
  }
}

/** Restore backup `name` into the cache directory `into` (see the note above). */
export async function restoreBackup(opts: {
  store: BlobStore;
  name: string;
  into: string;
  lockWaitMs?: number;
  /** Test hook, see {@link SwapOptions}. */
  afterMoveAside?: SwapOptions['afterMoveAside'];
}): Promise<RestoreReport> {
  await mkdir(opts.into, { recursive: true });
  await sweepLeftovers(opts.into);
  const work = join(opts.into, `.restore-${process.pid}-${randomBytes(4).toString('hex')}`);
  let keep = false;
  try {
    const { dir, chain, records } = await assemble(opts.store, opts.name, work);
    const swap: SwapOptions = { config: configTarget(chain[chain.length - 1]!, opts.into), ...(opts.afterMoveAside ? { afterMoveAside: opts.afterMoveAside } : {}) };
    // swapIn rolls a failed swap back itself, so removing `work` below never loses the live state.
    const restoredFiles = await withCacheLock(opts.into, opts.lockWaitMs ?? 60_000, () => swapIn(dir, opts.into, work, swap));
    return { name: opts.name, chain: chain.map((m) => m.name), objects: chain[chain.length - 1]!.objects.length, records, into: opts.into, restoredFiles };
  } catch (error) {
    if (error instanceof SwapRollbackError) keep = true; // the old state lives only in work/old now
    throw error;
  } finally {
    if (!keep) await rm(work, SCRATCH_RM);
  }
}

