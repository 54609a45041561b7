/**
 * Reads where the audit chain continues: the last complete line of the log (its seq and hash)
 * and, if the file does not end in `\n`, the torn fragment after it. Reads backwards from the
 * end in chunks, so the cost does not grow with the log.
 */
import { fstatSync, readSync } from 'node:fs';
import { EMPTY_HEAD, lineHash, parseEntry, type ChainHead } from './audit-format.js';

/** A torn last line: the bytes after the last `\n`. */
export interface TornTail {
  readonly bytes: number;
  readonly sha256: string;
}

export interface LogTail {
  readonly head: ChainHead;
  readonly torn?: TornTail;
}

const CHUNK = 64 * 1024;

/** Reads bytes [start, end) of an open file. */
function readRange(fd: number, start: number, end: number): Buffer {
  const buf = Buffer.alloc(end - start);
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, start + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

/** Offset of the last `\n` before `end` (exclusive), or -1. */
function lastNewlineBefore(fd: number, end: number): number {
  let hi = end;
  while (hi > 0) {
    const lo = Math.max(0, hi - CHUNK);
    const idx = readRange(fd, lo, hi).lastIndexOf(0x0a);
    if (idx >= 0) return lo + idx;
    hi = lo;
  }
  return -1;
}

/** The chain head of the log open at `fd` (read access needed). */
export function readTail(fd: number): LogTail {
  const size = fstatSync(fd).size;
  if (size === 0) return { head: EMPTY_HEAD };
  const lastNl = lastNewlineBefore(fd, size);
  let torn: TornTail | undefined;
  if (lastNl !== size - 1) {
    const fragment = readRange(fd, lastNl + 1, size);
    torn = { bytes: fragment.length, sha256: lineHash(fragment) };
  }
  if (lastNl < 0) return torn ? { head: EMPTY_HEAD, torn } : { head: EMPTY_HEAD };
  const prevNl = lastNewlineBefore(fd, lastNl);
  const line = readRange(fd, prevNl + 1, lastNl);
  // An unparseable last line (edited by hand) still anchors the chain by its hash; `audit
  // verify` reports the line itself. Its seq is unknown, so numbering restarts after it.
  const entry = parseEntry(line.toString('utf8'));
  const head: ChainHead = { seq: entry ? entry.seq : 0, hash: lineHash(line) };
  return torn ? { head, torn } : { head };
}
