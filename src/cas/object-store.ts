/**
 * Design note: the local content-addressed object store.
 *
 * Layout under `<root>/cas/`:
 *   objects/<2 hex>/<62 hex>        one blob per file, named by the SHA-256 of its UNCOMPRESSED
 *                                   bytes; file format (header + codec payload) in codec.ts.
 *   tmp/<host>_<pid>_<16 hex>       objects being written. Same filesystem as objects/, so the
 *                                   final rename is atomic; host+pid say whose file it is.
 *   quarantine/<digest>.<ms>-<hex>  objects that failed verification, kept for a post-mortem.
 *
 * Durability: write the temp file, fsync it (unless `fsync: false`), rename it into place.
 * Directories are not fsynced: a rename lost in a crash only makes the object "missing", which
 * the cache treats as a miss, and an action record is written after its objects.
 *
 * Readers never trust a file: every read decodes it and checks its SHA-256 (and the header's
 * size). A torn, truncated or bit-flipped object is moved to quarantine and reported as
 * `corrupt`, which callers treat as a miss; the next put of the same content stores it again.
 * `has()` counts only regular files at least a header long, so a zero-length leftover of a
 * crash is overwritten by the next put instead of being trusted.
 *
 * Concurrency: writers never write in place, so readers never see a partial object. Two
 * writers of the same blob both rename the same content into place; the last rename wins
 * and both succeed. The tmp sweep deletes only files whose writer is provably gone (same
 * host, dead pid) or that are over an hour old, so it never races a live writer.
 *
 * Speed: objects up to 1 MiB take one read and one native call. Larger ones go through
 * payload-writer.ts / payload-reader.ts: one pass over 1 MiB slots, SHA-256 on a worker
 * thread (hash-pool.ts) in parallel with (de)compression on the main thread, positional
 * writes in the threadpool. Restored files are not fsynced: the store still has them. Large
 * restored files are written past the page cache by default (see {@link DirectIo}).
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { err, ok, type Result } from '../errors/result.js';
import { isHexDigest, type FileDigest } from '../hash/digest.js';
import { replaceFileSync, tempPathFor } from '../util/atomic-write.js';
import { FreshCopies, type FreshCopy } from './fresh-copies.js';
import { HashPool } from './hash-pool.js';
import { copyVerified } from './payload-reader.js';
import { createRawFile, type RawFile } from './raw-file.js';
import { encodeFile } from './payload-writer.js';
import {
  CodecError, HEADER_SIZE, decodeBuffer, encodeBuffer, encodeHeader,
  loadNatives, normalizeLevel, parseHeader, type CodecName, type ObjectHeader,
} from './codec.js';
import { isProcessAlive } from '../util/process.js';
import { openCreatingParent } from '../util/fs.js';

/** Why an object operation failed. `changed`: the source file changed while it was stored. */
export type CasError = {
  readonly kind: 'missing' | 'corrupt' | 'changed' | 'io';
  readonly digest?: string;
  readonly message: string;
};

/** Outcome of a put; `stored` is false if the object already existed. */
export interface PutResult {
  readonly digest: FileDigest;
  /** Uncompressed size in bytes. */
  readonly size: number;
  readonly stored: boolean;
}

export interface ObjectStoreOptions {
  readonly codec: CodecName;
  /** zstd 1..19 (3 is a good default); ignored by lz4 and none. */
  readonly level: number;
  /**
   * fsync each new object before renaming it into place. Default true. With false, small
   * objects take a synchronous fast path and the caller makes the batch durable at the end
   * (see `syncTree`): the object is still complete-or-absent for any reader, and a power loss
   * can only leave an object that fails verification, never one that passes with bad bytes.
   */
  readonly fsync?: boolean;
  /** Hashing for large restores/verifies (worker thread); default: a pool of this store's own. */
  readonly hashPool?: HashPool;
  /** Which large new files bypass the page cache (`[cache] direct_io`); default 'outputs'. See {@link DirectIo}. */
  readonly directIo?: DirectIo;
}

/**
 * Which large files reprovm writes past the page cache (Linux O_DIRECT, util/direct-appender.ts;
 * elsewhere, and where a file system refuses it, the same writes are buffered):
 * - `outputs`: cache objects imported from the remote, and every output file restored into the
 *   workspace from an object of more than 1 MiB, compressed (from the local cache or the remote);
 * - `cache`: only the imported cache objects;
 * - `off`: nothing.
 * Why outputs too: a restore writes each large output once and, in most builds, nothing in the
 * run reads it again (the tasks that would read it are cache hits themselves). Filling the page
 * cache with it costs the kernel's copy into fresh pages, the largest CPU cost of a large restore
 * measured here, and crowds out pages that are read. The price is paid by a reader that comes
 * soon after: it reads from the disk instead of memory. And a direct write waits for the device,
 * which on slow network disks makes the restore as slow as the disk (then use `cache` or `off`).
 */
export type DirectIo = 'outputs' | 'cache' | 'off';

/** Objects up to this size take the one-read, one-native-call path instead of the slot loop. */
const SMALL = 1 << 20;
const STALE_TEMP_MS = 60 * 60 * 1000;
const TEMP_NAME = /^(.+)_(\d+)_[0-9a-f]{16}$/;

interface OpenObject {
  readonly fh: FileHandle;
  readonly header: ObjectHeader;
  /** The whole file, when it is small enough to have been read in one go. */
  readonly whole: Buffer | undefined;
}

const noop = (): void => undefined;
const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const sha256 = (b: Buffer): FileDigest => createHash('sha256').update(b).digest('hex') as FileDigest;

function ioError(e: unknown, digest?: string): CasError {
  return { kind: 'io', ...(digest === undefined ? {} : { digest }), message: message(e) };
}

/** Compressed, verified, content-addressed blobs under `<root>/cas/`. See the design note above. */
export class ObjectStore {
  readonly root: string;
  readonly #objects: string;
  readonly #tmp: string;
  readonly #quarantine: string;
  readonly #codec: CodecName;
  readonly #level: number;
  readonly #fsync: boolean;
  readonly #directIo: DirectIo;
  /** SHA-256 on a worker thread for large restores/verifies; started on first need. */
  readonly #hashes: HashPool;
  readonly #ownsPool: boolean;
  readonly #host = hostname().replace(/[^A-Za-z0-9.-]/g, '-') || 'unknown-host';
  /** Temp names: a random prefix per store plus a counter (cheaper than random bytes per file). */
  readonly #tempPrefix = randomBytes(4).toString('hex');
  #tempSeq = 0;
  #natives: Awaited<ReturnType<typeof loadNatives>> | undefined;
  /** Verified raw copies of just-imported objects, used once by restoreTo (see fresh-copies.ts). */
  readonly fresh = new FreshCopies();

  constructor(root: string, opts: ObjectStoreOptions) {
    this.root = root;
    this.#objects = join(root, 'cas', 'objects');
    this.#tmp = join(root, 'cas', 'tmp');
    this.#quarantine = join(root, 'cas', 'quarantine');
    this.#codec = opts.codec;
    this.#level = normalizeLevel(opts.codec, opts.level);
    this.#fsync = opts.fsync ?? true;
    this.#directIo = opts.directIo ?? 'outputs';
    this.#hashes = opts.hashPool ?? new HashPool();
    this.#ownsPool = opts.hashPool === undefined;
  }

  /** Create the directories and sweep temp files left by writers that are gone. */
  async init(): Promise<{ sweptTemps: number }> {
    await Promise.all([this.#objects, this.#tmp, this.#quarantine].map((d) => mkdir(d, { recursive: true })));
    const now = Date.now();
    let swept = 0;
    await Promise.all(
      (await readdir(this.#tmp)).map(async (name) => {
        const p = join(this.#tmp, name);
        const m = TEMP_NAME.exec(name);
        let gone = m !== null && m[1] === this.#host && !isProcessAlive(Number(m[2]));
        if (!gone) gone = await stat(p).then((st) => now - st.mtimeMs > STALE_TEMP_MS, () => false);
        if (gone && (await unlink(p).then(() => true, () => false))) swept += 1;
      }),
    );
    return { sweptTemps: swept };
  }

  /** Stop this store's hashing worker, if it started one (optional: it never holds the process open). */
  async close(): Promise<void> {
    this.fresh.clear();
    if (this.#ownsPool) await this.#hashes.close();
  }

  /** The hashing pool of this store (for importers that decode in one pass, like restoreTo). */
  get hashPool(): HashPool {
    return this.#hashes;
  }

  /** Which large new files bypass the page cache (see {@link DirectIo}). */
  get directIo(): DirectIo {
    return this.#directIo;
  }

  /** A new temp file name in `cas/tmp/` (same file system as the objects; swept by init once its writer is gone). */
  tempPath(): string {
    return this.#tempPath();
  }

  /** Where the object for `digest` lives. Throws for a malformed digest (a bug upstream). */
  objectPath(digest: string): string {
    if (!isHexDigest(digest)) throw new Error(`Internal error: not a SHA-256 hex digest: ${JSON.stringify(digest)}`);
    return join(this.#objects, digest.slice(0, 2), digest.slice(2));
  }

  /** True if an object file exists (it is verified when read, not here). */
  async has(digest: string): Promise<boolean> {
    if (!isHexDigest(digest)) return false;
    return stat(this.objectPath(digest)).then((st) => st.isFile() && st.size >= HEADER_SIZE, () => false);
  }

  /**
   * Store a file. With `expected`, an existing object short-circuits without reading the file,
   * and a different computed digest yields `changed` (the file changed while being stored).
   */
  async putFile(absPath: string, expected?: FileDigest): Promise<Result<PutResult, CasError>> {
    if (expected !== undefined && (await this.has(expected))) {
      return stat(absPath).then((st) => ok({ digest: expected, size: st.size, stored: false }), (e) => err(ioError(e)));
    }
    let fh: FileHandle;
    try {
      fh = await open(absPath, 'r');
    } catch (e: unknown) {
      return err(ioError(e));
    }
    try {
      const { size } = await fh.stat();
      if (size > SMALL) return await this.#putStream(fh, absPath, size, expected);
      const buf = await fh.readFile();
      const digest = sha256(buf);
      if (expected !== undefined && digest !== expected) return err(changed(absPath, expected, digest));
      return await this.#putSmall(buf, digest);
    } catch (e: unknown) {
      return err(ioError(e));
    } finally {
      await fh.close().catch(noop);
    }
  }

  /** Store an in-memory blob (logs, small outputs). */
  async putBuffer(buf: Buffer): Promise<Result<PutResult, CasError>> {
    return this.putKnownBuffer(buf, sha256(buf));
  }

  /** Read, decode and verify a whole object into memory. */
  async getBuffer(digest: FileDigest): Promise<Result<Buffer, CasError>> {
    const o = await this.#openObject(digest);
    if (!o.ok) return o;
    try {
      const bytes = o.value.whole ?? (await o.value.fh.readFile());
      const h = parseHeader(bytes);
      const decoded = h.ok ? decodeBuffer(await loadNatives([h.value.codec]), bytes) : h;
      if (!decoded.ok) return await this.#corrupt(digest, decoded.error);
      if (sha256(decoded.value) !== digest) return await this.#corrupt(digest, 'content does not match its digest');
      return ok(decoded.value);
    } catch (e: unknown) {
      return err(ioError(e, digest));
    } finally {
      await o.value.fh.close().catch(noop);
    }
  }

  /**
   * Write the object's content to `destAbs` with `mode`: decoded into a temp file next to it,
   * verified, chmod'ed and renamed over `destAbs`, so `destAbs` is never partial. Restored
   * files are not fsynced unless asked: they can always be restored again from the store.
   */
  async restoreTo(
    digest: FileDigest,
    destAbs: string,
    mode: number,
    opts: { readonly fsync?: boolean } = {},
  ): Promise<Result<{ bytes: number }, CasError>> {
    const fresh = opts.fsync === true ? undefined : this.fresh.take(digest);
    if (fresh !== undefined) {
      const done = await this.#restoreFresh(fresh, destAbs, mode);
      if (done !== undefined) return ok({ bytes: done });
    }
    const o = await this.#openObject(digest);
    if (!o.ok) return o;
    const tmp = tempPathFor(destAbs);
    try {
      // Past the page cache only for large objects (a small one is one write either way) and
      // never when asked to fsync (a direct write does not make the file's metadata durable).
      const direct = o.value.whole === undefined && this.#directIo === 'outputs' && opts.fsync !== true;
      const out = await createRawFile(tmp, 0o600, direct);
      let checked: Result<number, string>;
      try {
        checked = await this.#decodeTo(digest, o.value, out);
        if (checked.ok) {
          await out.end();
          if (opts.fsync === true) await out.sync();
        }
      } finally {
        await out.close();
      }
      if (!checked.ok) {
        await unlink(tmp);
        return await this.#corrupt(digest, checked.error);
      }
      await chmod(tmp, mode);
      await rename(tmp, destAbs);
      return ok({ bytes: checked.value });
    } catch (e: unknown) {
      await unlink(tmp).catch(noop);
      return err(ioError(e, digest));
    } finally {
      await o.value.fh.close().catch(noop);
    }
  }

  /**
   * Writes a verified copy of a just-imported object to `destAbs` (temp + rename, as above):
   * a small one with a few synchronous calls, a staged file by renaming it. Returns the size,
   * or undefined when it did not work out (the caller then decodes the object as usual).
   */
  async #restoreFresh(copy: FreshCopy, destAbs: string, mode: number): Promise<number | undefined> {
    if (copy.kind === 'buffer') {
      try {
        replaceFileSync(destAbs, copy.bytes, mode);
        return copy.bytes.length;
      } catch {
        return undefined;
      }
    }
    try {
      await chmod(copy.path, mode);
      await rename(copy.path, destAbs);
      return copy.size;
    } catch (e: unknown) {
      await unlink(copy.path).catch(noop);
      if (errno(e) === 'EXDEV') this.fresh.disableFiles(); // the cache lives on another file system
      return undefined;
    }
  }

  /** Decode the whole object and check its digest; quarantines it if it is corrupt. */
  async verify(digest: FileDigest): Promise<Result<void, CasError>> {
    const o = await this.#openObject(digest);
    if (!o.ok) return o;
    try {
      const checked = await this.#decodeTo(digest, o.value, undefined);
      return checked.ok ? ok(undefined) : await this.#corrupt(digest, checked.error);
    } catch (e: unknown) {
      return err(ioError(e, digest));
    } finally {
      await o.value.fh.close().catch(noop);
    }
  }

  /** Move an object to `cas/quarantine/` (no-op if it is already gone). */
  async quarantine(digest: FileDigest): Promise<void> {
    const dest = join(this.#quarantine, `${digest}.${Date.now()}-${randomBytes(4).toString('hex')}`);
    const move = (): Promise<void> => rename(this.objectPath(digest), dest);
    await move().catch(async (e: unknown) => {
      if (errno(e) !== 'ENOENT') throw e;
      // Either the object is gone already (fine) or the quarantine dir is missing.
      await mkdir(this.#quarantine, { recursive: true });
      await move().catch((e2: unknown) => {
        if (errno(e2) !== 'ENOENT') throw e2;
      });
    });
  }

  /** Every object's digest (names only; contents are not checked). */
  async *list(): AsyncIterable<FileDigest> {
    const subs = await readdir(this.#objects).catch(() => [] as string[]);
    for (const sub of subs.sort()) {
      if (!/^[0-9a-f]{2}$/.test(sub)) continue;
      const names = await readdir(join(this.#objects, sub)).catch(() => [] as string[]);
      for (const name of names.sort()) {
        if (isHexDigest(sub + name)) yield (sub + name) as FileDigest;
      }
    }
  }

  /** Object count and bytes on disk (compressed sizes, headers included). */
  async stats(): Promise<{ objects: number; bytes: number }> {
    let objects = 0;
    let bytes = 0;
    for await (const digest of this.list()) {
      const st = await stat(this.objectPath(digest)).catch(() => undefined);
      if (st === undefined) continue;
      objects += 1;
      bytes += st.size;
    }
    return { objects, bytes };
  }

  #tempPath(): string {
    const seq = (this.#tempSeq++).toString(16).padStart(8, '0');
    return join(this.#tmp, `${this.#host}_${process.pid}_${this.#tempPrefix}${seq}`);
  }

  /**
   * Store a small in-memory blob whose digest the caller computed. Without per-object fsync
   * this is a handful of synchronous syscalls on the calling thread: for thousands of tiny
   * outputs that is far cheaper than thread-pool round trips.
   */
  async putKnownBuffer(buf: Buffer, digest: FileDigest): Promise<Result<PutResult, CasError>> {
    if (this.#fsync || buf.length > SMALL) return this.#putSmall(buf, digest);
    this.#natives ??= await loadNatives([this.#codec]);
    const dest = this.objectPath(digest);
    if (existsSync(dest)) return ok({ digest, size: buf.length, stored: false });
    const tmp = this.#tempPath();
    try {
      writeFileSync(tmp, encodeBuffer(this.#natives, buf, this.#codec, this.#level), { mode: 0o444, flag: 'wx' });
      try {
        renameSync(tmp, dest);
      } catch (e: unknown) {
        if (errno(e) !== 'ENOENT') throw e;
        mkdirSync(dirname(dest), { recursive: true });
        renameSync(tmp, dest);
      }
      return ok({ digest, size: buf.length, stored: true });
    } catch (e: unknown) {
      rmSync(tmp, { force: true });
      return err(ioError(e, digest));
    }
  }

  async #putSmall(buf: Buffer, digest: FileDigest): Promise<Result<PutResult, CasError>> {
    try {
      if (await this.has(digest)) return ok({ digest, size: buf.length, stored: false });
      const bytes = encodeBuffer(await loadNatives([this.#codec]), buf, this.#codec, this.#level);
      const tmp = this.#tempPath();
      const fh = await openCreatingParent(tmp, 'wx', 0o444);
      try {
        try {
          await fh.writeFile(bytes);
          if (this.#fsync) await fh.sync();
        } finally {
          await fh.close();
        }
        await this.#install(tmp, digest);
      } catch (e: unknown) {
        await unlink(tmp).catch(noop);
        throw e;
      }
      return ok({ digest, size: buf.length, stored: true });
    } catch (e: unknown) {
      return err(ioError(e, digest));
    }
  }

  /** One pass over a large file: hash the raw bytes while encoding them into a temp object. */
  async #putStream(src: FileHandle, srcPath: string, sizeHint: number, expected?: FileDigest): Promise<Result<PutResult, CasError>> {
    const natives = await loadNatives([this.#codec]);
    const tmp = this.#tempPath();
    try {
      const out = await openCreatingParent(tmp, 'wx', 0o444);
      let encoded: { size: number; digest: string };
      try {
        encoded = await encodeFile(natives, this.#codec, this.#level, src, out, this.#hashes, sizeHint);
        // The header goes last: the size is what was actually read, even if the file grew.
        await out.write(encodeHeader(this.#codec, encoded.size), 0, HEADER_SIZE, 0);
        if (this.#fsync) await out.sync();
      } finally {
        await out.close();
      }
      const digest = encoded.digest as FileDigest;
      const size = encoded.size;
      if (expected !== undefined && digest !== expected) {
        await unlink(tmp);
        return err(changed(srcPath, expected, digest));
      }
      if (await this.has(digest)) {
        await unlink(tmp); // someone stored it meanwhile: same content, keep theirs
        return ok({ digest, size, stored: false });
      }
      await this.#install(tmp, digest);
      return ok({ digest, size, stored: true });
    } catch (e: unknown) {
      await unlink(tmp).catch(noop);
      return err(ioError(e));
    }
  }

  /** Rename a finished temp object into place, creating its fan-out directory on first use. */
  async #install(tmp: string, digest: FileDigest): Promise<void> {
    const dest = this.objectPath(digest);
    try {
      await rename(tmp, dest);
    } catch (e: unknown) {
      if (errno(e) !== 'ENOENT') throw e;
      await mkdir(dirname(dest), { recursive: true });
      await rename(tmp, dest);
    }
  }

  /** Open an object and parse its header; small objects are read whole in the same call. */
  async #openObject(digest: FileDigest): Promise<Result<OpenObject, CasError>> {
    if (!isHexDigest(digest)) return err({ kind: 'missing', digest, message: `not a SHA-256 digest: ${digest}` });
    let fh: FileHandle;
    try {
      fh = await open(this.objectPath(digest), 'r');
    } catch (e: unknown) {
      if (errno(e) === 'ENOENT') return err({ kind: 'missing', digest, message: `object ${digest} is not in the store` });
      return err(ioError(e, digest));
    }
    try {
      const { size } = await fh.stat();
      const want = size <= SMALL + HEADER_SIZE ? size : HEADER_SIZE;
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(buf, 0, want, 0);
      const header = parseHeader(buf.subarray(0, bytesRead));
      if (header.ok) return ok({ fh, header: header.value, whole: want === size ? buf.subarray(0, bytesRead) : undefined });
      await fh.close();
      return await this.#corrupt(digest, header.error);
    } catch (e: unknown) {
      await fh.close().catch(noop);
      return err(ioError(e, digest));
    }
  }

  /**
   * Decode an opened object into `out` (or nowhere), checking size and digest. Returns the raw
   * size, or err(reason) if the object is corrupt; I/O errors are thrown.
   */
  async #decodeTo(
    digest: FileDigest,
    o: OpenObject,
    out: RawFile | undefined,
  ): Promise<Result<number, string>> {
    const natives = await loadNatives([o.header.codec]);
    if (o.whole !== undefined) {
      const decoded = decodeBuffer(natives, o.whole);
      if (!decoded.ok) return decoded;
      if (sha256(decoded.value) !== digest) return err('content does not match its digest');
      if (out !== undefined) await out.write(decoded.value, decoded.value.length, 0);
      return ok(decoded.value.length);
    }
    let copied: { size: number; digest: string };
    try {
      copied = await copyVerified(natives, o.header, o.fh, out, this.#hashes);
    } catch (e: unknown) {
      if (e instanceof CodecError) return err(e.message);
      throw e;
    }
    if (copied.size !== o.header.size) return err(`decoded ${copied.size} bytes, header says ${o.header.size}`);
    if (copied.digest !== digest) return err('content does not match its digest');
    return ok(copied.size);
  }

  async #corrupt(digest: FileDigest, why: string): Promise<{ readonly ok: false; readonly error: CasError }> {
    await this.quarantine(digest).catch(noop);
    return err({ kind: 'corrupt', digest, message: `object ${digest} is corrupt (${why}); moved to quarantine` });
  }
}

function changed(path: string, expected: string, actual: string): CasError {
  return {
    kind: 'changed',
    digest: actual,
    message: `${path} changed while being stored (expected ${expected.slice(0, 12)}…, read ${actual.slice(0, 12)}…)`,
  };
}
