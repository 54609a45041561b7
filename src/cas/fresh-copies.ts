/**
 * Verified raw copies of objects that were just imported from the remote (cache/remote-import.ts),
 * kept briefly so that the restore which follows writes them out without reading, decoding and
 * hashing the object again:
 *
 * - small objects as a Buffer (the decoded bytes the import verified);
 * - large objects as a staged file in `cas/tmp/` (named like the store's own temp files, so a
 *   killed process's leftovers are swept by the next `init`), written in the same pass that
 *   wrote the object; the restore renames it into the workspace.
 *
 * Every copy was checked against the digest it is filed under before it was added. A copy is
 * handed out once ({@link FreshCopies.take}); the set is bounded (bytes held in memory, number
 * of staged files) and drops the oldest first, deleting staged files it drops. Nothing here is
 * durable: losing a copy only means the restore decodes the object as usual.
 */
import { rmSync } from 'node:fs';
import { unlink } from 'node:fs/promises';

/** A verified raw copy of an object. */
export type FreshCopy =
  | { readonly kind: 'buffer'; readonly bytes: Buffer }
  | { readonly kind: 'file'; readonly path: string; readonly size: number };

export interface FreshCopiesLimits {
  /** Bytes of buffers held at once. Default 64 MiB. */
  readonly maxBufferBytes?: number;
  /** Staged files at once. Default 16. */
  readonly maxFiles?: number;
}

/** See the module comment. */
export class FreshCopies {
  readonly #entries = new Map<string, FreshCopy>();
  readonly #maxBytes: number;
  readonly #maxFiles: number;
  #bytes = 0;
  #files = 0;
  #filesOff = false;

  constructor(limits: FreshCopiesLimits = {}) {
    this.#maxBytes = limits.maxBufferBytes ?? 64 << 20;
    this.#maxFiles = limits.maxFiles ?? 16;
  }

  /**
   * False once a staged file could not be renamed into a workspace (the cache is on another
   * file system): staging would then only cost a write, so importers stop doing it.
   */
  get stagingFiles(): boolean {
    return !this.#filesOff;
  }

  /** Stop staging files (see {@link stagingFiles}). */
  disableFiles(): void {
    this.#filesOff = true;
  }

  /** Files `copy` (already verified to have `digest`) under `digest`, replacing an older copy. */
  add(digest: string, copy: FreshCopy): void {
    this.#drop(digest);
    this.#entries.set(digest, copy);
    if (copy.kind === 'buffer') this.#bytes += copy.bytes.length;
    else this.#files += 1;
    // Map iteration is insertion order: the first entries are the oldest.
    for (const [d, c] of this.#entries) {
      if (this.#bytes <= this.#maxBytes && this.#files <= this.#maxFiles) break;
      if ((c.kind === 'buffer' && this.#bytes > this.#maxBytes) || (c.kind === 'file' && this.#files > this.#maxFiles)) this.#drop(d);
    }
  }

  /** The copy filed under `digest`, removed from the set (the caller owns a staged file now). */
  take(digest: string): FreshCopy | undefined {
    const c = this.#entries.get(digest);
    if (c === undefined) return undefined;
    this.#entries.delete(digest);
    if (c.kind === 'buffer') this.#bytes -= c.bytes.length;
    else this.#files -= 1;
    return c;
  }

  /** Forgets the copy filed under `digest`, if any (a staged file is deleted). */
  discard(digest: string): void {
    this.#drop(digest);
  }

  /** Forgets every copy and deletes the staged files (synchronously: called when the store closes). */
  clear(): void {
    for (const c of this.#entries.values()) if (c.kind === 'file') rmSync(c.path, { force: true });
    this.#entries.clear();
    this.#bytes = 0;
    this.#files = 0;
  }

  #drop(digest: string): void {
    const c = this.take(digest);
    if (c?.kind === 'file') void unlink(c.path).catch(() => undefined);
  }
}
