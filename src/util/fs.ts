import { lstatSync, type Stats } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** lstat that returns undefined for a missing path instead of throwing. */
export function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** open(2) that creates the parent directory when it is missing (ENOENT) and tries once more. */
export async function openCreatingParent(path: string, flags: string | number, mode: number): Promise<FileHandle> {
  try {
    return await open(path, flags, mode);
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await mkdir(dirname(path), { recursive: true });
    return await open(path, flags, mode);
  }
}
