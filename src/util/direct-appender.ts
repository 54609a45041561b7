/**
 * Writing a new file front to back that nobody reads soon, past the page cache where the file
 * system allows it (Linux O_DIRECT): cache objects imported from the remote, and large restored
 * outputs (which `[cache] direct_io` decides, see cas/object-store.ts DirectIo).
 *
 * Why: the kernel's copy into fresh page-cache pages was the largest single cost of a large
 * restore on a 2-CPU VM (perf: ~1.3 ms per MB, up to 2.8 ms where the host had taken the memory
 * back); a direct write costs a user-space copy into a reused buffer (~0.1 ms per MB) and leaves
 * the page cache to files that are read. Measured on ext4, 1 GB in 1 MiB writes: buffered 0.45 s
 * of CPU, direct 0.18 s (in a warm state; buffered 2.2-2.8 s in a cold one).
 *
 * Direct I/O wants the buffer address, the length and the file offset aligned to the device's
 * logical block. Chunks are copied into 1 MiB slabs of page-aligned memory (util/aligned-memory.ts;
 * Node's Buffers are not aligned), written at 1 MiB offsets, the last one padded to 4 KiB, and
 * the file is then truncated to its real size. A chunk that is itself a whole slab of aligned
 * memory, arriving at a slab boundary (the decoders' hash slots, cas/hash-pool.ts), is written
 * in place without the copy. Where O_DIRECT is refused (tmpfs,
 * FUSE and network shares that do not support it, platforms without it, WebAssembly disabled
 * by --jitless), at open or at the first write, the same writes go through the page cache; the
 * verdict is kept per directory so later files do not ask again.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { alignedBuffers, canAlign, isPageAligned } from './aligned-memory.js';
import { openCreatingParent, unlinkIfPresent } from './fs.js';

/** Offsets and lengths of direct writes are multiples of this (covers 512 B and 4 KiB sectors). */
export const DIRECT_ALIGN = 4096;
export const SLAB = 1 << 20;
/**
 * Slabs per file: two written while the third fills (a direct write holds a libuv thread until
 * the device is done, so more in flight would only crowd the thread pool).
 */
export const SLABS_PER_RING = 3;
/** Rings kept for reuse (touching fresh memory costs more than copying into warm memory). */
const RINGS_KEPT = 8;

/** A file being appended to; see the module comment. */
export interface FileAppender {
  /** True while writes bypass the page cache. */
  readonly direct: boolean;
  /**
   * Appends `chunk`: copied into a slab, or written as it is when it is a whole slab of aligned
   * memory at a slab boundary. Either way the caller may reuse it once this resolves. Calls may
   * overlap: chunks land in the order of the calls.
   */
  append(chunk: Buffer): Promise<void>;
  /** Writes what is left, waits for every write and sets the file's size. Throws the first write error. */
  end(): Promise<void>;
  /** Closes the file (after end(), or instead of it after a failure). Idempotent. */
  close(): Promise<void>;
}

const freeRings: Buffer[][] = [];
/** Directories where O_DIRECT was refused: later files there are buffered from the start. */
const directRefused = new Set<string>();

function acquireRing(): Buffer[] {
  const kept = freeRings.pop();
  if (kept !== undefined) return kept;
  // Without WebAssembly (--jitless) files are never direct, and the buffers are plain.
  return alignedBuffers(SLABS_PER_RING, SLAB, false).buffers;
}

function releaseRing(ring: Buffer[]): void {
  if (freeRings.length < RINGS_KEPT) freeRings.push(ring);
}

/** O_DIRECT where this platform has it and WebAssembly (the aligned memory) is available. */
function directFlag(): number | undefined {
  const flag = (constants as { O_DIRECT?: number }).O_DIRECT;
  return flag !== undefined && flag !== 0 && canAlign() ? flag : undefined;
}

const noop = (): void => undefined;
const isEinval = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'EINVAL';

export interface AppendOptions {
  /** false: write through the page cache. */
  readonly direct?: boolean;
  /** The slabs to copy into instead of pooled aligned ones (tests pass misaligned ones). */
  readonly slabs?: Buffer[];
}

/**
 * Creates `path` (it must not exist; its directory is created if missing) with `mode` and
 * returns an appender for it. `direct: false` forces writes through the page cache.
 */
export async function createAppendFile(path: string, mode: number, opts: AppendOptions = {}): Promise<FileAppender> {
  if (opts.slabs !== undefined && (opts.slabs.length !== SLABS_PER_RING || opts.slabs.some((b) => b.length !== SLAB))) {
    throw new RangeError(`an appender takes ${SLABS_PER_RING} slabs of ${SLAB} bytes`);
  }
  const base = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
  const flag = opts.direct === false || directRefused.has(dirname(path)) ? undefined : directFlag();
  if (flag !== undefined) {
    try {
      return new SlabAppender(path, await openCreatingParent(path, base | flag, mode), true, opts.slabs);
    } catch (e: unknown) {
      if (!isEinval(e)) throw e;
      directRefused.add(dirname(path));
      // Linux creates the file before it looks at O_DIRECT (ramfs, FUSE, tmpfs before 6.6): the
      // refused open leaves an empty file behind. It is ours (O_EXCL: a file that was there
      // would have been EEXIST), so it goes, and the buffered open creates it afresh.
      await unlinkIfPresent(path);
    }
  }
  return new SlabAppender(path, await openCreatingParent(path, base, mode), false, opts.slabs);
}

class SlabAppender implements FileAppender {
  readonly #path: string;
  #fh: FileHandle;
  #direct: boolean;
  /** True once a direct write succeeded on this file: later EINVALs are real errors. */
  #proven = false;
  /** The slabs chunks are copied into; taken from the pool on the first copy. */
  #ring: Buffer[] | undefined;
  /** The ring goes back to the pool on close (not when the caller gave the slabs). */
  readonly #pooled: boolean;
  /** Writes of chunks taken in place (no copy), until they are done. */
  readonly #inPlace = new Set<Promise<void>>();
  readonly #busy: Array<Promise<void> | undefined> = Array.from({ length: SLABS_PER_RING }, () => undefined);
  #slab = 0;
  #fill = 0;
  /** Where the current slab goes in the file. */
  #pos = 0;
  #failure: { readonly error: unknown } | undefined;
  #closed = false;
  /** The last append's completion (settled either way): the next one starts after it. */
  #appending: Promise<void> = Promise.resolve();

  constructor(path: string, fh: FileHandle, direct: boolean, slabs: Buffer[] | undefined) {
    this.#ring = slabs;
    this.#pooled = slabs === undefined;
    this.#path = path;
    this.#fh = fh;
    this.#direct = direct;
  }

  get direct(): boolean {
    return this.#direct;
  }

  append(chunk: Buffer): Promise<void> {
    // One append at a time: a second one must not copy into a slab whose flush is waiting.
    // A chunk written in place lets the next append start as soon as its write has started (so
    // the caller's next slots are written meanwhile), and resolves only once it is written.
    const started = this.#appending.then(() => this.#appendNow(chunk));
    this.#appending = started.then(noop, noop);
    return started.then((r) => r?.written);
  }

  /** A copy, or for a chunk taken in place the promise of its write. */
  async #appendNow(chunk: Buffer): Promise<{ written: Promise<void> } | undefined> {
    if (this.#fill === 0 && chunk.length === SLAB && (this.#direct ? isPageAligned(chunk) : true)) return this.#writeInPlace(chunk);
    const ring = this.#live();
    let rest = chunk;
    while (rest.length > 0) {
      const n = rest.copy(ring[this.#slab] as Buffer, this.#fill);
      this.#fill += n;
      rest = rest.subarray(n);
      if (this.#fill === SLAB) await this.#flush(SLAB);
    }
    return undefined;
  }

  /** Writes a whole slab's worth of the caller's memory at the current (slab-aligned) offset. */
  async #writeInPlace(chunk: Buffer): Promise<{ written: Promise<void> }> {
    this.#check();
    const pos = this.#pos;
    this.#pos += SLAB;
    if (this.#direct && !this.#proven) {
      await this.#firstDirectWrite(chunk, chunk.length, pos);
      return { written: Promise.resolve() };
    }
    const written = this.#write(chunk, SLAB, pos).catch((error: unknown) => {
      this.#failure ??= { error };
      throw error;
    });
    const tracked = written.then(noop, noop);
    this.#inPlace.add(tracked);
    void tracked.then(() => this.#inPlace.delete(tracked));
    return { written };
  }

  async end(): Promise<void> {
    await this.#appending;
    this.#check();
    const size = this.#pos + this.#fill;
    if (this.#fill > 0) {
      // A direct write of the tail is padded to the alignment, then the file is cut to size.
      const len = this.#direct ? Math.ceil(this.#fill / DIRECT_ALIGN) * DIRECT_ALIGN : this.#fill;
      (this.#slabs()[this.#slab] as Buffer).fill(0, this.#fill, len);
      await this.#flush(len);
    }
    await Promise.all([...this.#busy, ...this.#inPlace]);
    if (this.#failure !== undefined) throw this.#failure.error;
    if (this.#direct) await this.#fh.truncate(size);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#appending;
    await Promise.allSettled([...this.#busy, ...this.#inPlace]);
    const ring = this.#ring;
    this.#ring = undefined;
    if (ring !== undefined && this.#pooled) releaseRing(ring);
    await this.#fh.close();
  }

  /** Throws the first write error, or when the file is closed. */
  #check(): void {
    if (this.#failure !== undefined) throw this.#failure.error;
    if (this.#closed) throw new Error(`${this.#path}: appended to after close`);
  }

  /** {@link #check}, then the slabs (taken now if need be). */
  #live(): Buffer[] {
    this.#check();
    return this.#slabs();
  }

  #slabs(): Buffer[] {
    this.#ring ??= acquireRing();
    return this.#ring;
  }

  /** Writes the first `len` bytes of the current slab and moves to the next free one. */
  async #flush(len: number): Promise<void> {
    const buf = (this.#ring as Buffer[])[this.#slab] as Buffer;
    const pos = this.#pos;
    if (this.#direct && !this.#proven) {
      await this.#firstDirectWrite(buf.subarray(0, len), this.#fill, pos);
    } else {
      const p: Promise<void> = this.#write(buf, len, pos).then(
        () => undefined,
        (error: unknown) => void (this.#failure ??= { error }),
      );
      this.#busy[this.#slab] = p;
    }
    this.#pos += this.#fill;
    this.#fill = 0;
    this.#slab = (this.#slab + 1) % SLABS_PER_RING;
    await this.#busy[this.#slab]; // never copy into a slab whose write is still running
    this.#busy[this.#slab] = undefined;
    if (this.#failure !== undefined) throw this.#failure.error;
  }

  /**
   * The first direct write runs alone: if the file system refuses it (EINVAL), nothing else
   * was written, so the file is reopened without O_DIRECT and the write repeated.
   */
  async #firstDirectWrite(bytes: Buffer, realLength: number, pos: number): Promise<void> {
    try {
      await this.#write(bytes, bytes.length, pos);
      this.#proven = true;
    } catch (e: unknown) {
      if (!isEinval(e)) {
        this.#failure ??= { error: e };
        throw e;
      }
      directRefused.add(dirname(this.#path));
      await this.#fh.close();
      this.#fh = await open(this.#path, constants.O_WRONLY);
      this.#direct = false;
      // Buffered from here on: a padded tail is written without its padding.
      await this.#write(bytes, realLength, pos);
    }
  }

  /** One positional write; a short one (the disk filled up mid-write) is an error, never a hole. */
  async #write(buf: Buffer, len: number, pos: number): Promise<void> {
    const { bytesWritten } = await this.#fh.write(buf, 0, len, pos);
    if (bytesWritten !== len) throw Object.assign(new Error(`${this.#path}: short write (${bytesWritten} of ${len} bytes at ${pos})`), { code: 'ENOSPC' });
  }
}
