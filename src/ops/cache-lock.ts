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
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { isProcessAlive } from '../util/process.js';

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
  const { lock, owner } = cacheLockPaths(cacheDir);
  const deadline = Date.now() + opts.waitMs;
  for (;;) {
    try {
      const release = await lockfile.lock(cacheDir, { lockfilePath: lock, stale: STALE_MS, realpath: false });
      writeFileSync(owner, JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() }));
      return {
        release: async () => {
          rmSync(owner, { force: true });
          await release().catch(() => undefined);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
      const holder = readOwner(owner);
      if (holder && holder.host === hostname() && !isProcessAlive(holder.pid)) {
        rmSync(lock, { recursive: true, force: true });
        rmSync(owner, { force: true });
        continue;
      }
      if (Date.now() >= deadline) throw new CacheLockBusyError(cacheDir, holder?.pid);
      await new Promise((r) => setTimeout(r, 100));
    }
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

/** The holder recorded next to a lock (pid, host), if readable. */
export function readOwner(file: string): { pid: number; host: string } | undefined {
  try {
    const o = JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown; host?: unknown };
    if (typeof o.pid === 'number' && typeof o.host === 'string') return { pid: o.pid, host: o.host };
  } catch {
    // No owner file yet (the holder is between taking the lock and writing it) or torn.
  }
  return undefined;
}
