/**
 * Whether a file's bytes sit in the page cache, for tests of writes that bypass it (O_DIRECT).
 * Residency comes from util-linux `fincore` (mincore(2) on a mapping of the file).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

/** The file system type of `dir` (Linux: from /proc/self/mountinfo), or undefined. */
export function fsType(dir: string): string | undefined {
  if (!existsSync('/proc/self/mountinfo')) return undefined;
  let best: { mount: string; type: string } | undefined;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    const mount = pre?.split(' ')[4];
    const type = post?.split(' ')[0];
    if (mount === undefined || type === undefined) continue;
    const inside = dir === mount || dir.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
    if (inside && (best === undefined || mount.length >= best.mount.length)) best = { mount, type };
  }
  return best?.type;
}

/** File systems that take O_DIRECT writes. */
const DIRECT_FS: ReadonlySet<string> = new Set(['ext4', 'xfs', 'btrfs', 'ext3', 'f2fs']);

/** True on Linux when files under `dir` can be written past the page cache. */
export function takesDirectIo(dir: string = tmpdir()): boolean {
  return process.platform === 'linux' && DIRECT_FS.has(fsType(dir) ?? '');
}

/** Bytes of `file` in the page cache. Throws when fincore fails. */
export function residentBytes(file: string): number {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fincore ${file}: ${r.stderr || r.error?.message}`);
  return Number(r.stdout.trim());
}

/**
 * Asserts that `file` was written past the page cache (`direct`: none of it resident) or
 * through it (some of it resident, checked right after the write).
 */
export function assertResidency(file: string, direct: boolean, what: string): void {
  const resident = residentBytes(file);
  if (direct) assert.equal(resident, 0, `${what}: nothing of it in the page cache`);
  else assert.ok(resident > 0, `${what}: written through the page cache`);
}

/** Why residency cannot be checked for files under `dir` here, or false when it can. */
export function pageCacheSkip(dir: string = tmpdir()): string | false {
  if (!takesDirectIo(dir)) return 'needs a Linux file system that takes O_DIRECT';
  return spawnSync('fincore', ['--version']).status === 0 ? false : 'needs fincore (util-linux)';
}
