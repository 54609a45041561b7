import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { isProcessAlive } from '../util/process.js';

/**
 * The workspace lock: one run at a time per workspace (`<workspace>/.reprovm/lock`, a
 * proper-lockfile lock directory kept fresh by mtime updates). Next to it, `lock.owner`
 * names the holder (pid, host) so that a lock left by a process that died on this host is
 * broken at once instead of after the staleness timeout.
 *
 * Different workspaces sharing one cache directory do not lock each other: the object store
 * and action records are written atomically, which is what makes sharing safe.
 */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly startedAt: string;
}

export interface WorkspaceLock {
  release(): Promise<void>;
}

export interface LockOptions {
  /** Wait for another run to finish (default) instead of failing at once. */
  readonly wait: boolean;
  /** Called once when we start waiting, with the current holder if known. */
  readonly onWait?: (owner: LockOwner | undefined) => void;
  /** Called if a stale lock of a dead process was broken. */
  readonly onStaleBroken?: (owner: LockOwner) => void;
  /** Called if the lock was lost while held (e.g. removed by hand). */
  readonly onCompromised?: (error: Error) => void;
  readonly signal?: AbortSignal;
}

export class LockBusyError extends Error {
  override readonly name = 'LockBusyError';
  constructor(readonly owner: LockOwner | undefined) {
    super(
      owner
        ? `another reprovm run (pid ${owner.pid} on ${owner.host}) holds the workspace lock`
        : 'another reprovm run holds the workspace lock',
    );
  }
}

const STALE_MS = 10_000;

export async function lockWorkspace(workspace: string, opts: LockOptions): Promise<WorkspaceLock> {
  const dir = path.join(workspace, '.reprovm');
  mkdirSync(dir, { recursive: true });
  const lockPath = path.join(dir, 'lock');
  const ownerPath = path.join(dir, 'lock.owner');
  let waiting = false;
  for (;;) {
    try {
      const release = await lockfile.lock(dir, {
        lockfilePath: lockPath,
        stale: STALE_MS,
        realpath: false,
        onCompromised: (e) => opts.onCompromised?.(e),
      });
      const owner: LockOwner = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
      writeFileSync(ownerPath, JSON.stringify(owner));
      return {
        release: async () => {
          rmSync(ownerPath, { force: true });
          await release().catch(() => undefined);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
      const owner = readOwner(ownerPath);
      if (owner && owner.host === hostname() && !isProcessAlive(owner.pid)) {
        rmSync(lockPath, { recursive: true, force: true });
        rmSync(ownerPath, { force: true });
        opts.onStaleBroken?.(owner);
        continue;
      }
      if (!opts.wait) throw new LockBusyError(owner);
      if (!waiting) {
        waiting = true;
        opts.onWait?.(owner);
      }
      if (opts.signal?.aborted) throw new LockBusyError(owner);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function readOwner(p: string): LockOwner | undefined {
  try {
    const o = JSON.parse(readFileSync(p, 'utf8')) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && typeof o.host === 'string') return o as LockOwner;
  } catch {
    // No owner file yet (the holder is between taking the lock and writing it) or torn.
  }
  return undefined;
}

