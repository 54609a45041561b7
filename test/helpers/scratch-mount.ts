/**
 * A small file system mounted for one test (a full disk, one without direct I/O). Linux and
 * root only: {@link MOUNT_SKIP} says why a test cannot run elsewhere.
 */
import { execFileSync } from 'node:child_process';
import type { TestContext } from 'node:test';

/** The `skip` option of a test that mounts: false where it can run. */
export const MOUNT_SKIP: string | false = process.platform === 'linux' && process.getuid?.() === 0 ? false : 'needs root on Linux to mount a small file system';

/**
 * Mounts `source` (`mount -t type [-o options]`) on the empty directory `dir`, runs `fn` and
 * unmounts it, whatever `fn` did. A refused mount (a container without the right) skips the test.
 */
export async function withMount(t: TestContext, dir: string, type: 'tmpfs' | 'ramfs', options: string | undefined, fn: () => Promise<void>): Promise<void> {
  try {
    execFileSync('mount', ['-t', type, ...(options === undefined ? [] : ['-o', options]), type, dir], { stdio: 'ignore' });
  } catch {
    t.skip(`mount -t ${type} refused`);
    return;
  }
  try {
    await fn();
  } finally {
    execFileSync('umount', [dir], { stdio: 'ignore' });
  }
}
