/**
 * Work directories a killed backup or restore leaves in the cache dir
 * (`.backup-staging-<pid>-<hex>`, `.restore-<pid>-<hex>`): removed by the next backup or restore
 * once their process is gone (a live one may still be using its directory). A restore that died
 * in the middle of its swap still holds the live cache under `old/`: that swap is rolled back
 * first (swap.ts), so the sweep never deletes the only copy of the cache.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isProcessAlive } from '../../util/process.js';
import { rollBackSwap } from './swap.js';

const WORK_DIR = /^\.(?:backup-staging|restore)-(\d+)-[0-9a-f]{8}$/;

/** Remove the work directories of dead processes under `dir`; returns how many went. */
export async function sweepLeftovers(dir: string): Promise<number> {
  let swept = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = WORK_DIR.exec(name);
    if (!m || isProcessAlive(Number(m[1]))) continue;
    // A failed rollback throws: the directory stays, with the old state in it, for a person to see.
    if (name.startsWith('.restore-')) await rollBackSwap(dir, join(dir, name));
    await rm(join(dir, name), { recursive: true, force: true });
    swept += 1;
  }
  return swept;
}
