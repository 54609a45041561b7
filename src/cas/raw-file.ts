/**
 * A new file that decoded bytes are written into, slot by slot in offset order: a restored
 * output (or its staged copy), through the page cache or past it (util/direct-appender.ts).
 *
 * Both kinds take the same positional writes, so the decoding loops (payload-reader.ts,
 * cache/stream-import.ts) do not care which one they feed. A buffered file writes each slot
 * where it belongs, several at once; a direct one appends in call order (the offsets are
 * consecutive, so the order is the position): a whole hash slot, page-aligned, is written in
 * place, the last partial one is copied into an aligned buffer and padded.
 */
import type { FileHandle } from 'node:fs/promises';
import { createAppendFile } from '../util/direct-appender.js';
import { openCreatingParent } from '../util/fs.js';

export interface RawFile {
  /** Writes the first `n` bytes of `buf` at `pos` (calls come in offset order, may overlap). */
  write(buf: Buffer, n: number, pos: number): Promise<unknown>;
  /** Waits for every write and gives the file its size; after it the file is complete. */
  end(): Promise<void>;
  /** fsyncs a buffered file (a direct one is never asked: see {@link createRawFile}). */
  sync(): Promise<void>;
  /** Closes the file (after end(), or instead of it after a failure). */
  close(): Promise<void>;
}

/**
 * Creates `path` exclusively with `mode` (and its directory if missing). `direct`: past the page
 * cache where the file system allows it (it falls back to buffered writes by itself).
 */
export async function createRawFile(path: string, mode: number, direct: boolean): Promise<RawFile> {
  if (direct) {
    const a = await createAppendFile(path, mode);
    return {
      write: (buf, n) => a.append(buf.subarray(0, n)),
      end: () => a.end(),
      sync: () => Promise.reject(new Error(`${path}: fsync of a direct raw file`)),
      close: () => a.close(),
    };
  }
  const fh: FileHandle = await openCreatingParent(path, 'wx', mode);
  return {
    write: async (buf, n, pos) => {
      const { bytesWritten } = await fh.write(buf, 0, n, pos);
      // A short write (the disk filled up mid-write) is an error, never a hole.
      if (bytesWritten !== n) throw Object.assign(new Error(`${path}: short write (${bytesWritten} of ${n} bytes at ${pos})`), { code: 'ENOSPC' });
    },
    end: async () => undefined,
    sync: () => fh.sync(),
    close: () => fh.close(),
  };
}
