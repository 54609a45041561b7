/**
 * The swap step of `backup restore`, and how an interrupted one is undone.
 *
 * Layout under the restore's work directory `<into>/.restore-<pid>-<hex>/`:
 *   state/            the assembled, fully checked state (cas/objects, cache, audit.log, reprovm.conf)
 *   old/              where the live `cas/objects` and `cache` are renamed to before the new ones go in
 *   old/.swap-done    written (fsynced) once every rename succeeded: from then on old/ is garbage
 *   discarded/        restored directories taken back out during a rollback
 *
 * Without `.swap-done`, old/ holds the live state and must never be deleted: a failure inside
 * the swap is rolled back at once, and a crash mid-swap is rolled back by the next backup or
 * restore (leftovers.ts), before it removes the dead process's work directory.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** The directories a restore replaces, in swap order. */
const SWAPPED = [join('cas', 'objects'), 'cache'] as const;
const DONE = '.swap-done';

/** Where the archived config goes and what it is called there. */
export interface ConfigTarget {
  /** File name under the target cache dir. */
  readonly file: string;
  /** Replace an existing file of that name (a side copy may be replaced; a live config never is). */
  readonly replace: boolean;
}

/** Options of {@link swapIn}. */
export interface SwapOptions {
  readonly config: ConfigTarget;
  /** Called after the live `rel` was moved aside and before the new one is moved in (tests force failures here). */
  readonly afterMoveAside?: (rel: string) => Promise<void> | void;
}

/** A swap failed and so did its rollback: `work` still holds the old state and must be kept. */
export class SwapRollbackError extends Error {
  override readonly name = 'SwapRollbackError';
  constructor(readonly work: string, cause: unknown, rollback: unknown) {
    const why = (e: unknown): string => (e instanceof Error ? e.message : String(e));
    super(`restore failed (${why(cause)}) and could not be undone (${why(rollback)}); the previous cache is kept in ${work}/old, and the next backup or restore puts it back`);
  }
}

async function moveInto(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await rename(from, to);
}

/**
 * Swap the assembled `state` into `into`: the live directories go to `<work>/old`, the restored
 * ones take their place. On any failure the swap is rolled back before the error is rethrown.
 * Returns the files (audit log, config) written next to the cache, by name.
 */
export async function swapIn(state: string, into: string, work: string, opts: SwapOptions): Promise<string[]> {
  const old = join(work, 'old');
  await mkdir(old, { recursive: true });
  const restored: string[] = [];
  try {
    for (const rel of SWAPPED) {
      const live = join(into, rel);
      if (existsSync(live)) await moveInto(live, join(old, rel));
      await opts.afterMoveAside?.(rel);
      await moveInto(join(state, rel), live);
    }
    const files: [string, string, boolean][] = [
      ['audit.log', 'audit.log', false],
      ['reprovm.conf', opts.config.file, opts.config.replace],
    ];
    for (const [from, to, replace] of files) {
      if (!existsSync(join(state, from)) || (!replace && existsSync(join(into, to)))) continue;
      await rename(join(state, from), join(into, to));
      restored.push(to);
    }
    const done = await open(join(old, DONE), 'w');
    await done.sync();
    await done.close();
  } catch (error) {
    try {
      await rollBackSwap(into, work);
    } catch (rollbackError) {
      throw new SwapRollbackError(work, error, rollbackError);
    }
    throw error;
  }
  return restored;
}

/**
 * Undo an unfinished swap whose work directory is `work`: every directory under `<work>/old`
 * goes back to its live place (a restored one standing there is moved aside first). Returns
 * false when there is nothing to undo (no old/, or the swap had finished), true after a rollback.
 */
export async function rollBackSwap(into: string, work: string): Promise<boolean> {
  const old = join(work, 'old');
  if (!existsSync(old) || existsSync(join(old, DONE))) return false;
  for (const rel of SWAPPED) {
    if (!existsSync(join(old, rel))) continue;
    const live = join(into, rel);
    if (existsSync(live)) await moveInto(live, join(work, 'discarded', rel));
    await moveInto(join(old, rel), live);
  }
  return true;
}
