import { chmodSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Options for {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode for the new file (subject to umask, like fs.writeFile). Default 0o666. */
  readonly mode?: number;
  /**
   * fsync the file before the rename. Default true. Without it a crash can leave the new name
   * pointing at an empty or torn file.
   */
  readonly fsync?: boolean;
  /**
   * Also fsync the directory after the rename (best-effort), so the rename itself survives a
   * crash. Default false: for caches and state files losing the newest version is harmless,
   * and it is a second fsync per write.
   */
  readonly fsyncDir?: boolean;
}

// `.<basename>.tmp-<pid>-<12 hex>`: the leading dot hides it from casual listings, and the pid
// lets a sweeper tell whose file it is.
const TEMP_NAME = /^\..+\.tmp-\d+-[0-9a-f]{12}$/;

// The 12 hex digits start at a random point per process (per thread) and count up from there:
// unique within the process without drawing from the kernel's random source for every temp file
// (~20 µs each, thousands per restore), and most unlikely to meet a leftover of an earlier
// process with the same pid; the exclusive create ('wx') refuses one if it ever did.
const TEMP_SPACE = 2 ** 48;
let tempSeq = randomBytes(6).readUIntBE(0, 6);

/**
 * A unique temporary path in the same directory as `dest` (same filesystem, so the final
 * rename is atomic): `.<basename>.tmp-<pid>-<12 hex>`.
 */
export function tempPathFor(dest: string): string {
  tempSeq = (tempSeq + 1) % TEMP_SPACE;
  return join(dirname(dest), `.${basename(dest)}.tmp-${process.pid}-${tempSeq.toString(16).padStart(12, '0')}`);
}

/** True if `name` (a basename) looks like a temp file made by {@link tempPathFor}. */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/** The pid encoded in a {@link tempPathFor} name, or undefined for other names. */
export function tempNamePid(name: string): number | undefined {
  if (!isTempName(name)) return undefined;
  const m = /\.tmp-(\d+)-[0-9a-f]{12}$/.exec(name);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/**
 * fsync a directory so a rename inside it survives a crash. Best-effort: some filesystems
 * (and platforms) refuse to open or sync directories, which is not worth failing over.
 */
export async function fsyncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Best-effort by design (see above).
  }
}

/**
 * Replace `dest` atomically: readers see either the old content or the complete new content,
 * never a partial file. Writes a unique temp file in the same directory, fsyncs it, and
 * renames it over `dest`. The temp file is removed if anything fails.
 */
export async function writeFileAtomic(
  dest: string,
  data: Buffer | string,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  const durable = opts.fsync ?? true;
  const tmp = tempPathFor(dest);
  // 'wx': the name is random, but never clobber something we did not create.
  const fh = await open(tmp, 'wx', opts.mode ?? 0o666);
  try {
    try {
      await fh.writeFile(data);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, dest);
  } catch (e: unknown) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  if (opts.fsyncDir === true) await fsyncDir(dirname(dest));
}

/**
 * Synchronous, non-durable variant of {@link writeFileAtomic} for small files written in bulk
 * (action records): still never partial for a reader (temp file + rename), but not fsynced;
 * the caller makes the batch durable at once with {@link syncTree}.
 */
export function writeFileAtomicSync(dest: string, data: Buffer | string, mode = 0o666): void {
  const tmp = tempPathFor(dest);
  try {
    writeFileSync(tmp, data, { mode, flag: 'wx' });
    renameSync(tmp, dest);
  } catch (e: unknown) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Puts `data` at `dest` with exactly `mode` (no umask), atomically and without fsync: a temp
 * file beside it, chmod, rename. For restored outputs, which can always be restored again.
 */
export function replaceFileSync(dest: string, data: Buffer, mode: number): void {
  const tmp = tempPathFor(dest);
  try {
    writeFileSync(tmp, data, { flag: 'wx', mode: 0o600 });
    chmodSync(tmp, mode);
    renameSync(tmp, dest);
  } catch (e: unknown) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Flush everything written under `dir` to stable storage with one syncfs(2) of its file
 * system (`sync -f`, coreutils), instead of one fsync per file. Resolves false if that is
 * not available; the data then reaches the disk on the kernel's own schedule.
 */
export async function syncTree(dir: string): Promise<boolean> {
  // Loaded here: child_process (with net and dgram) costs every command's start-up ~3 ms.
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile('sync', ['-f', dir], (error) => resolve(error === null));
  });
}
