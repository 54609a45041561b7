/**
 * A {@link BlobStore} that opens the real one on its first call. Opening a cloud store loads its
 * SDK (about 0.1 s of module loading for S3); a run whose tasks are all up to date never asks
 * the remote, so with a remote configured it should not pay for that. A failure to open is
 * thrown from that first call, where the remote tier's fault policy reports it.
 */
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { BlobInfo, BlobStore, PutOptions, PutOutcome, RequestOptions } from '../remote/blob-store.js';
import { getSmall } from '../remote/read-small.js';
import { statePath } from '../state/workspace-state.js';

export class LazyBlobStore implements BlobStore {
  readonly description: string;
  readonly #open: () => Promise<BlobStore>;
  #store: Promise<BlobStore> | undefined;

  /** `description` is shown until (and instead of) the real store's; it must hold no credentials. */
  constructor(description: string, open: () => Promise<BlobStore>) {
    this.description = description;
    this.#open = open;
  }

  /**
   * Starts opening the real store now, in the background, for a caller that knows it will
   * need it. A failure is not thrown here: the first call reports it.
   */
  warmUp(): void {
    this.#get().catch(() => undefined);
  }

  #get(): Promise<BlobStore> {
    this.#store ??= this.#open();
    return this.#store;
  }

  async has(key: string, opts?: RequestOptions): Promise<boolean> {
    return (await this.#get()).has(key, opts);
  }

  async stat(key: string, opts?: RequestOptions): Promise<BlobInfo | undefined> {
    return (await this.#get()).stat(key, opts);
  }

  async get(key: string, opts?: RequestOptions): Promise<Readable | undefined> {
    return (await this.#get()).get(key, opts);
  }

  async put(key: string, body: Buffer | Readable, opts?: PutOptions & RequestOptions): Promise<PutOutcome> {
    return (await this.#get()).put(key, body, opts);
  }

  /** The real store's `putFrom` when it has one (a retrying store), else one put of a fresh body. */
  async putFrom(key: string, open: () => Buffer | Readable | Promise<Buffer | Readable>, opts?: PutOptions & RequestOptions): Promise<PutOutcome> {
    const store = (await this.#get()) as BlobStore & { putFrom?: LazyBlobStore['putFrom'] };
    if (store.putFrom) return store.putFrom(key, open, opts);
    return store.put(key, await open(), opts);
  }

  /** The real store's whole-object read (see remote/read-small.ts). */
  async getBytes(key: string, maxBytes: number, opts?: RequestOptions): Promise<Buffer | undefined> {
    return getSmall(await this.#get(), key, maxBytes, `${this.description}: get ${key}`, opts);
  }

  async *list(prefix: string, opts?: RequestOptions): AsyncIterable<BlobInfo> {
    yield* (await this.#get()).list(prefix, opts);
  }

  async delete(key: string, opts?: RequestOptions): Promise<void> {
    return (await this.#get()).delete(key, opts);
  }

  async ensureBucket(opts?: RequestOptions): Promise<void> {
    return (await this.#get()).ensureBucket(opts);
  }

  async close(): Promise<void> {
    if (this.#store === undefined) return;
    const store = await this.#store.catch(() => undefined);
    await store?.close();
  }
}

/**
 * Starts opening `store` (loading its SDK: about 0.1 s of CPU for S3) at once when it is a lazy
 * store and the workspace has never run here (no state file, as in a fresh CI checkout): such
 * a run asks the remote for its tasks right away, and the load then overlaps the workspace lock
 * and the first hashing instead of delaying the first lookup. A workspace that ran before keeps
 * the lazy behaviour: when it is up to date it never calls the remote.
 */
export function warmUpForColdWorkspace(store: BlobStore, workspace: string): void {
  if (store instanceof LazyBlobStore && !existsSync(statePath(workspace))) store.warmUp();
}
