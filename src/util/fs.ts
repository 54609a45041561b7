import { lstatSync, type Stats } from 'node:fs';

/** lstat that returns undefined for a missing path instead of throwing. */
export function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}
