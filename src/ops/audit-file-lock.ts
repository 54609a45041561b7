/**
 * A short, synchronous, cross-process lock for appending to the audit log: `<log>.lock`,
 * created with `O_CREAT|O_EXCL` and holding `pid host`. It is held only while the tail is read
 * and one batch of lines is written (well under a millisecond), so waiters poll with short
 * synchronous sleeps instead of going through the event loop: `AuditLog.append` is synchronous
 * by contract.
 *
 * A lock whose holder died (SIGKILL between create and unlink) is broken: on this host when its
 * pid is gone, from another host when the file is older than {@link FOREIGN_STALE_MS}. Breaking
 * is itself serialised by `<log>.lock.break` (O_EXCL too), and the holder is re-read under it,
 * so two waiters can never both break and one of them remove the other's fresh lock. A break
 * file left by a process killed while breaking (a window of microseconds) is removed after
 * {@link BREAK_STALE_MS}.
 */
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { isProcessAlive } from '../util/process.js';

const FOREIGN_STALE_MS = 10_000;
const BREAK_STALE_MS = 5_000;

/** Sleeps the thread (the lock is held for microseconds; going async would break `append`'s contract). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function tryCreate(file: string, content: string): boolean {
  try {
    const fd = openSync(file, 'wx', 0o644);
    try {
      writeSync(fd, content);
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

function unlinkQuiet(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Already gone.
  }
}

/** True if the lock file names a holder that is certainly gone. */
function isStale(lockFile: string, host: string): boolean {
  let text: string;
  let ageMs: number;
  try {
    text = readFileSync(lockFile, 'utf8');
    ageMs = Date.now() - statSync(lockFile).mtimeMs;
  } catch {
    return false; // released meanwhile: just retry
  }
  const [pidText, lockHost] = text.split(' ');
  const pid = Number(pidText);
  // An empty file is a holder between create and write: stale only once it is old.
  if (!Number.isInteger(pid) || pid <= 0 || lockHost !== host) return ageMs > FOREIGN_STALE_MS;
  return !isProcessAlive(pid);
}

function tryBreak(lockFile: string, host: string, self: string): void {
  const breakFile = `${lockFile}.break`;
  if (!tryCreate(breakFile, self)) {
    try {
      if (Date.now() - statSync(breakFile).mtimeMs > BREAK_STALE_MS) unlinkQuiet(breakFile);
    } catch {
      // Gone meanwhile.
    }
    return;
  }
  try {
    if (isStale(lockFile, host)) unlinkQuiet(lockFile);
  } finally {
    unlinkQuiet(breakFile);
  }
}

/** A held lock. */
export interface HeldLock {
  release(): void;
}

/**
 * Takes the lock, waiting up to `timeoutMs`; undefined on timeout. Throws only for I/O errors
 * other than "exists" (a missing directory, permissions), which the caller reports.
 */
export function lockSyncWithin(lockFile: string, timeoutMs: number): HeldLock | undefined {
  const host = hostname();
  const self = `${process.pid} ${host}`;
  const deadline = Date.now() + timeoutMs;
  let delay = 0.2;
  for (let attempt = 0; ; attempt++) {
    if (tryCreate(lockFile, self)) return { release: () => unlinkQuiet(lockFile) };
    if (attempt % 8 === 7 && isStale(lockFile, host)) tryBreak(lockFile, host, self);
    if (Date.now() >= deadline) return undefined;
    // Jittered, slowly growing waits: 8 writers on 2 cores must not spin in lockstep.
    sleepSync(delay * (0.5 + Math.random()));
    delay = Math.min(delay * 1.5, 5);
  }
}
