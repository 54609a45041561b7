/**
 * Reads the audit log line by line as raw bytes: hashes are over the exact bytes, and a torn
 * fragment may end inside a multi-byte character, so decoding first would change them.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** One line of the file: its bytes (without `\n`) and whether a `\n` ended it. */
export interface RawLine {
  /** 1-based line number. */
  readonly number: number;
  readonly bytes: Buffer;
  readonly terminated: boolean;
}

const CHUNK = 256 * 1024;

/** Yields every line of `file`; a missing file yields nothing. Other I/O errors throw. */
export function* readRawLines(file: string): Generator<RawLine> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    let carry: Buffer = Buffer.alloc(0);
    let number = 0;
    const buf = Buffer.alloc(CHUNK);
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      let data = carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
      let start = 0;
      for (let nl = data.indexOf(0x0a, start); nl >= 0; nl = data.indexOf(0x0a, start)) {
        yield { number: ++number, bytes: Buffer.from(data.subarray(start, nl)), terminated: true };
        start = nl + 1;
      }
      data = data.subarray(start);
      carry = Buffer.from(data);
    }
    if (carry.length > 0) yield { number: ++number, bytes: carry, terminated: false };
  } finally {
    closeSync(fd);
  }
}
