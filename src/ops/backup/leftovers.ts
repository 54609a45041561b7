/**
 * Work directories a killed backup or restore leaves in the cache dir
 * (`.backup-staging-<pid>-<hex>`, `.restore-<pid>-<hex>`): removed by the next backup or restore
 * once their process is gone (a live one may still be using its directory).
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isProcessAlive } from '../../util/process.js';

const WORK_DIR = /^\.(?:backup-staging|restore)-(\d+)-[0-9a-f]{8}$/;

/** Remove the work directories of dead processes under `dir`; returns how many went. */
export async function sweepLeftovers(dir: string): Promise<number> {
  let swept = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = WORK_DIR.exec(name);
    if (!m || isProcessAlive(Number(m[1]))) continue;
    await rm(join(dir, name), { recursive: true, force: true });
    swept += 1;
  }
  return swept;
}
