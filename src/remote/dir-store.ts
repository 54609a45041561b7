/**
 * A local directory as a {@link BlobStore} (backups to a directory, a remote on a shared mount,
 * tests).
 *
 * Layout: the key `a/b/c` is the file `<root>/a/b/c`; there is no header or index, so the tree
 * can be inspected and copied with ordinary tools. The root plays the bucket: when it does not
 * exist every call is a `no-bucket` error until `ensureBucket` creates it.
 *
 * Durability: a put streams into a unique temp file next to the destination
 * (`.<name>.tmp-<pid>-<random>`), fsyncs it, renames it over the key and fsyncs the directory,
 * so a reader sees either the old blob or the complete new one, never a torn file, and
 * concurrent puts of one key leave exactly one of them (last rename wins). Temp files left by a
 * crash are never listed or returned; a torn temp file is simply garbage.
 */
import { createReadStream, type Stats } from 'node:fs';
import { link, mkdir, open, opendir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fsyncDir, isTempName, tempPathFor } from '../util/atomic-write.js';
import { BlobStoreError, type BlobInfo, type BlobStore, type PutOptions, type PutOutcome, type RequestOptions } from './blob-store.js';
import { checkedBody } from './checked-body.js';
import { assertValidKey } from './keys.js';
import { throwIfAborted } from './abort.js';

/** Options of a {@link DirBlobStore}. */
export interface DirStoreOptions {
  /** fsync each blob and its directory after a put. Default true. */
  readonly fsync?: boolean;
}

/** A directory tree as a blob store; see the module comment. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP']);

/**
 * Moves the finished temp file `tmp` to `dest` unless `dest` exists. A hard link fails with
 * EEXIST when the name exists, so check and create are one call; a file system without hard
 * links (some network shares) gets a check, then a rename. `tmp` is gone afterwards.
 * `linkFile` is fs.link; a test passes one that fails as such a file system does.
 */
export async function installIfAbsent(tmp: string, dest: string, linkFile: typeof link = link): Promise<PutOutcome> {
  let code = '';
  await linkFile(tmp, dest).catch((e: unknown) => {
    code = (e as NodeJS.ErrnoException).code ?? '';
    if (code !== 'EEXIST' && !NO_HARD_LINKS.has(code)) throw e;
  });
  if (code === '') {
    await unlink(tmp);
    return 'stored';
  }
  if (code === 'EEXIST' || (await stat(dest).catch(() => undefined)) !== undefined) {
    await unlink(tmp);
    return 'exists';
  }
  await rename(tmp, dest);
  return 'stored';
}

export class DirBlobStore implements BlobStore {
  readonly description: string;
  readonly #root: string;
  readonly #fsync: boolean;

  constructor(root: string, opts: DirStoreOptions = {}) {
    this.#root = root;
    this.#fsync = opts.fsync ?? true;
    this.description = `dir ${root}`;
  }

  async has(key: string, opts?: RequestOptions): Promise<boolean> {
    return (await this.stat(key, opts)) !== undefined;
  }

  async stat(key: string, opts?: RequestOptions): Promise<BlobInfo | undefined> {
    const st = await this.#statKey(key, opts);
    return st === undefined ? undefined : { key, size: st.size };
  }

  async get(key: string, opts?: RequestOptions): Promise<Readable | undefined> {
    const st = await this.#statKey(key, opts);
    if (st === undefined) return undefined;
    const file = createReadStream(this.#path(key), opts?.signal === undefined ? {} : { signal: opts.signal });
    // The size is known from the stat: a file truncated while we read it errors the stream.
    return checkedBody(file, st.size, `${this.description}: ${key}`, (e) => this.#classify(e, key));
  }

  async put(key: string, body: Buffer | Readable, opts?: PutOptions & RequestOptions): Promise<PutOutcome> {
    assertValidKey(key);
    throwIfAborted(opts?.signal);
    await this.#requireRoot();
    const dest = this.#path(key);
    const dir = join(dest, '..');
    const tmp = tempPathFor(dest);
    try {
      await mkdir(dir, { recursive: true });
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
      // 'wx': the name is random, but never clobber something this call did not create.
      const fh = await open(tmp, 'wx');
      let written = 0;
      try {
        for await (const chunk of source) {
          throwIfAborted(opts?.signal);
          const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
          // A write may be short (a full disk, a signal): loop until the chunk is all out.
          for (let off = 0; off < buf.length; ) off += (await fh.write(buf, off)).bytesWritten;
          written += buf.length;
        }
        if (this.#fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      if (opts?.size !== undefined && written !== opts.size) {
        throw new BlobStoreError('integrity', `${this.description}: ${key}: body has ${written} bytes, announced ${opts.size}`);
      }
      const outcome = opts?.ifAbsent === true ? await installIfAbsent(tmp, dest) : (await rename(tmp, dest), 'stored' as const);
      if (outcome === 'stored' && this.#fsync) await fsyncDir(dir);
      return outcome;
    } catch (e: unknown) {
      await unlink(tmp).catch(() => undefined);
      throw this.#classify(e, key);
    }
  }

  async *list(prefix: string, opts?: RequestOptions): AsyncIterable<BlobInfo> {
    await this.#requireRoot();
    // Start the walk at the deepest directory the prefix names; the rest is a name filter.
    const cut = prefix.lastIndexOf('/');
    const base = cut < 0 ? '' : prefix.slice(0, cut);
    if (base !== '') assertValidKey(base);
    yield* this.#walk(base, prefix, opts?.signal);
  }

  async delete(key: string, opts?: RequestOptions): Promise<void> {
    assertValidKey(key);
    throwIfAborted(opts?.signal);
    try {
      await unlink(this.#path(key));
    } catch (e: unknown) {
      if (code(e) === 'ENOENT') {
        await this.#requireRoot();
        return;
      }
      throw this.#classify(e, key);
    }
  }

  async ensureBucket(opts?: RequestOptions): Promise<void> {
    throwIfAborted(opts?.signal);
    try {
      await mkdir(this.#root, { recursive: true });
    } catch (e: unknown) {
      throw this.#classify(e, '');
    }
  }

  async close(): Promise<void> {
    // Nothing held open between calls.
  }

  #path(key: string): string {
    return join(this.#root, ...key.split('/'));
  }

  async #statKey(key: string, opts: RequestOptions | undefined): Promise<Stats | undefined> {
    assertValidKey(key);
    throwIfAborted(opts?.signal);
    try {
      const st = await stat(this.#path(key));
      return st.isFile() ? st : undefined;
    } catch (e: unknown) {
      const c = code(e);
      if (c === 'ENOENT' || c === 'ENOTDIR') {
        await this.#requireRoot();
        return undefined;
      }
      throw this.#classify(e, key);
    }
  }

  async #requireRoot(): Promise<void> {
    try {
      if ((await stat(this.#root)).isDirectory()) return;
    } catch (e: unknown) {
      if (code(e) !== 'ENOENT') throw this.#classify(e, '');
    }
    throw new BlobStoreError('no-bucket', `${this.description}: directory does not exist (create it, or run \`reprovm cache init-remote\`)`);
  }

  async *#walk(rel: string, prefix: string, signal: AbortSignal | undefined): AsyncGenerator<BlobInfo> {
    let dir;
    try {
      dir = await opendir(rel === '' ? this.#root : this.#path(rel));
    } catch (e: unknown) {
      const c = code(e);
      if (c === 'ENOENT' || c === 'ENOTDIR') return;
      throw this.#classify(e, rel);
    }
    for await (const entry of dir) {
      throwIfAborted(signal);
      if (isTempName(entry.name)) continue;
      const key = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        // Descend only where keys can still match the prefix.
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.#walk(key, prefix, signal);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const st = await stat(this.#path(key)).catch(() => undefined);
        if (st !== undefined) yield { key, size: st.size };
      }
    }
  }

  #classify(e: unknown, key: string): BlobStoreError {
    if (e instanceof BlobStoreError) return e;
    const where = key === '' ? this.description : `${this.description}: ${key}`;
    const c = code(e);
    if (c === 'ABORT_ERR' || (e instanceof Error && e.name === 'AbortError')) {
      return new BlobStoreError('transient', `${where}: request aborted`, undefined, { cause: e });
    }
    if (c === 'EACCES' || c === 'EPERM' || c === 'EROFS') {
      return new BlobStoreError('auth', `${where}: permission denied (${c}); check the directory's owner and mode`, undefined, { cause: e });
    }
    if (c === 'EIO' || c === 'EAGAIN' || c === 'EMFILE' || c === 'ENFILE' || c === 'EBUSY' || c === 'ESTALE') {
      return new BlobStoreError('transient', `${where}: ${(e as Error).message}`, undefined, { cause: e });
    }
    const msg = e instanceof Error ? e.message : String(e);
    return new BlobStoreError('permanent', `${where}: ${msg}`, undefined, { cause: e });
  }
}

function code(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}
