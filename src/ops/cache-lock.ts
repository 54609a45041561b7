/**
 * The cache-level lock: `<cache_dir>/cache.lock` (a proper-lockfile lock directory, kept fresh
 * by mtime updates; another host's lock counts as stale after 10 s without refresh).
 *
 * Why a second lock next to the workspace lock: one cache directory may be shared by several
 * workspaces, each with its own workspace lock. Maintenance that deletes or replaces cache
 * content (gc, clean, verify --repair, backup, restore) takes this lock so two maintenance jobs
 * never interleave. Builds do NOT take it: they only add content atomically, and gc protects
 * what a build may still need with a grace period (see cache-gc.ts).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tryOwnedLock } from '../util/owned-lock.js';

/** A held cache lock. */
export interface CacheLock {
  release(): Promise<void>;
}

/** Another maintenance job holds the cache lock. */
export class CacheLockBusyError extends Error {
  override readonly name = 'CacheLockBusyError';
  constructor(readonly cacheDir: string, readonly pid: number | undefined) {
    super(`another reprovm maintenance job${pid === undefined ? '' : ` (pid ${pid})`} holds the cache lock of ${cacheDir}; try again when it has finished`);
  }
}

const STALE_MS = 10_000;

/** Where the cache lock lives (exported for `health`). */
export function cacheLockPaths(cacheDir: string): { lock: string; owner: string } {
  return { lock: join(cacheDir, 'cache.lock'), owner: join(cacheDir, 'cache.lock.owner') };
}

/**
 * Take the cache lock, waiting up to `waitMs` (0: fail at once with {@link CacheLockBusyError}).
 * A lock left by a dead process on this host is broken at once.
 */
export async function lockCache(cacheDir: string, opts: { readonly waitMs: number }): Promise<CacheLock> {
  mkdirSync(cacheDir, { recursive: true });
  const deadline = Date.now() + opts.waitMs;
  for (;;) {
    const attempt = await tryOwnedLock(cacheDir, cacheLockPaths(cacheDir), { staleMs: STALE_MS });
    if (attempt.kind === 'held') return attempt;
    if (Date.now() >= deadline) throw new CacheLockBusyError(cacheDir, attempt.holder?.pid);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Run `fn` under the cache lock. */
export async function withCacheLock<T>(cacheDir: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
  const lock = await lockCache(cacheDir, { waitMs });
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

export { readOwner } from '../util/owned-lock.js';
