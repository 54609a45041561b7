import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** lstat that returns undefined for a missing path instead of throwing. */
export function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

const isEnoent = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ENOENT';

/** Runs `fn`; when it fails with ENOENT, creates the parent directory of `path` and runs it once more. */
export async function creatingParent<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e: unknown) {
    if (!isEnoent(e)) throw e;
    await mkdir(dirname(path), { recursive: true });
    return await fn();
  }
}

/** {@link creatingParent}, synchronous. */
export function creatingParentSync<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e: unknown) {
    if (!isEnoent(e)) throw e;
    mkdirSync(dirname(path), { recursive: true });
    return fn();
  }
}

/** open(2) that creates the parent directory when it is missing and tries once more. */
export function openCreatingParent(path: string, flags: string | number, mode: number): Promise<FileHandle> {
  return creatingParent(path, () => open(path, flags, mode));
}

/** Removes `path`; one that is not there is no error. */
export async function unlinkIfPresent(path: string): Promise<void> {
  await unlink(path).catch((e: unknown) => {
    if (!isEnoent(e)) throw e;
  });
}
