/**
 * The daemon lock of a run history (`<cache_dir>/runs`): `<cache_dir>/runs.lock` (a
 * proper-lockfile lock directory, kept fresh by mtime updates) with `<cache_dir>/runs.lock.owner`
 * (`{pid, host, startedAt}`) next to it. `reprovm serve` holds it for its whole lifetime. It
 * lives beside the history, not in it, so the history holds nothing but run directories.
 *
 * Why: on startup the daemon recovers the run history (runs found queued or running become
 * aborted and their children get SIGTERM). A second daemon on the same cache directory would
 * kill the first one's builds and rewrite its history, so the lock is taken BEFORE the history
 * is touched, and a second daemon refuses to start. A lock whose owner is a dead process on this
 * host is broken at once; another host's lock counts as stale after 10 s without refresh.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { tryOwnedLock } from '../util/owned-lock.js';

/** A held daemon lock. */
export interface ServerLock {
  release(): Promise<void>;
}

/** Another daemon serves this cache directory. */
export class ServerLockBusyError extends Error {
  override readonly name = 'ServerLockBusyError';
  constructor(readonly runsDir: string, readonly pid: number | undefined) {
    super(
      `another reprovm serve${pid === undefined ? '' : ` (pid ${pid})`} already serves the run history in ${runsDir}; stop it first or give this server another cache_dir`,
    );
  }
}

const STALE_MS = 10_000;

/** The lock and owner files of a cache directory's run history. */
export function serverLockPaths(cacheDir: string): { dir: string; lock: string; owner: string } {
  return { dir: path.join(cacheDir, 'runs'), lock: path.join(cacheDir, 'runs.lock'), owner: path.join(cacheDir, 'runs.lock.owner') };
}

/**
 * Takes the daemon lock of `cacheDir` without waiting; throws {@link ServerLockBusyError} when a
 * live process holds it. `onLost` is told when the lock is compromised later (e.g. its directory
 * was removed): the daemon keeps running but should say so.
 */
export async function lockServer(cacheDir: string, onLost: (message: string) => void): Promise<ServerLock> {
  const { dir, lock, owner } = serverLockPaths(cacheDir);
  mkdirSync(dir, { recursive: true });
  const attempt = await tryOwnedLock(dir, { lock, owner }, {
    staleMs: STALE_MS,
    onCompromised: (error) => onLost(`the server lock ${lock} was lost: ${error.message}`),
  });
  if (attempt.kind === 'busy') throw new ServerLockBusyError(dir, attempt.holder?.pid);
  return attempt;
}

/**
 * Takes the daemon lock of every cache directory; on failure releases those already taken. A
 * cache directory where the lock cannot even be created (not a directory, no permission) holds
 * no history to protect: it gets a warning (`onLost`) and the daemon starts, so `GET /health`
 * can report the broken cache.
 */
export async function lockServers(cacheDirs: readonly string[], onLost: (message: string) => void): Promise<ServerLock> {
  const held: ServerLock[] = [];
  try {
    for (const dir of new Set(cacheDirs)) {
      try {
        held.push(await lockServer(dir, onLost));
      } catch (error) {
        if (error instanceof ServerLockBusyError) throw error;
        onLost(`cannot lock the run history of ${dir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      }
    }
  } catch (error) {
    for (const l of held) await l.release();
    throw error;
  }
  return { release: async () => void (await Promise.all(held.map((l) => l.release()))) };
}
