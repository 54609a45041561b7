/**
 * One attempt at a proper-lockfile lock whose holder is recorded next to it (`{pid, host,
 * startedAt}` in an owner file), so that a lock left by a dead process on this host can be broken
 * at once instead of after the stale timeout. Used by the cache lock (maintenance jobs) and the
 * server lock (one daemon per run history); each wraps it with its own waiting policy and error.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import lockfile from 'proper-lockfile';
import { isProcessAlive } from './process.js';

/** The holder recorded next to a lock. */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
}

export type OwnedLockAttempt =
  | { readonly kind: 'held'; release(): Promise<void> }
  | { readonly kind: 'busy'; readonly holder: LockOwner | undefined };

/**
 * Tries once to take the lock directory `paths.lock` (guarding `dir`); a lock whose recorded owner
 * is a dead process on this host is removed and tried again once. Errors other than "locked" throw.
 */
export async function tryOwnedLock(
  dir: string,
  paths: { readonly lock: string; readonly owner: string },
  opts: { readonly staleMs: number; readonly onCompromised?: (error: Error) => void },
): Promise<OwnedLockAttempt> {
  for (let attempt = 0; ; attempt++) {
    try {
      const release = await lockfile.lock(dir, {
        lockfilePath: paths.lock,
        stale: opts.staleMs,
        realpath: false,
        ...(opts.onCompromised ? { onCompromised: opts.onCompromised } : {}),
      });
      writeFileSync(paths.owner, JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() }));
      return {
        kind: 'held',
        release: async () => {
          rmSync(paths.owner, { force: true });
          await release().catch(() => undefined);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
      const holder = readOwner(paths.owner);
      if (attempt === 0 && holder && holder.host === hostname() && !isProcessAlive(holder.pid)) {
        rmSync(paths.lock, { recursive: true, force: true });
        rmSync(paths.owner, { force: true });
        continue;
      }
      return { kind: 'busy', holder };
    }
  }
}

/** The holder recorded next to a lock, if readable. */
export function readOwner(file: string): LockOwner | undefined {
  try {
    const o = JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown; host?: unknown };
    if (typeof o.pid === 'number' && typeof o.host === 'string') return { pid: o.pid, host: o.host };
  } catch {
    // No owner file yet (the holder is between taking the lock and writing it) or torn.
  }
  return undefined;
}
