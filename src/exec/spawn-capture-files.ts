import { randomUUID } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, rmSync } from 'node:fs';
import path from 'node:path';

/** A temp file that receives one stream of a command; `take` reads it (up to a limit) and removes it. */
export interface CaptureFile {
  readonly fd: number;
  take(limit: number): Buffer;
}

/**
 * The stdout and stderr files of one command in `dir` (see capture-dir.ts). Opened with
 * O_CLOEXEC (as every libuv open is), so only the command they are given to inherits them.
 */
export function openCaptureFiles(dir: string): { stdout: CaptureFile; stderr: CaptureFile } {
  const base = path.join(dir, `${process.pid}-${randomUUID()}`);
  const open = (suffix: string): CaptureFile => {
    const file = `${base}.${suffix}`;
    const fd = openSync(file, 'w+', 0o600);
    return {
      fd,
      take(limit) {
        try {
          const size = Math.min(fstatSync(fd).size, limit);
          const buf = Buffer.allocUnsafe(size);
          let off = 0;
          while (off < size) {
            const n = readSync(fd, buf, off, size - off, off);
            if (n === 0) break;
            off += n;
          }
          return buf.subarray(0, off);
        } finally {
          closeSync(fd);
          rmSync(file, { force: true });
        }
      },
    };
  };
  return { stdout: open('out'), stderr: open('err') };
}
