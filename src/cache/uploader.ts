/**
 * Background uploads of finished tasks to the remote cache, with bounded concurrency.
 *
 * For each record: every blob it names is made present remotely first (a `stat` per blob, or
 * one listing of the remote for a bulk push; a blob already there with the right size is never
 * uploaded again, and a blob shared by many records is handled once per run), and only when
 * all of them are there is the record put. A record already present remotely is never replaced
 * (checked with a `stat` first; the record and its blobs are then skipped).
 * A record whose blobs could not all be uploaded is dropped, so an interrupted or failing run
 * never leaves a record whose blobs are missing. Uploads run while other tasks execute; the
 * run calls {@link Uploader.flush} before it exits.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { storedBlobs, type ActionRecord } from '../cas/action-cache.js';
import type { ObjectStore } from '../cas/object-store.js';
import type { BlobStore } from '../remote/blob-store.js';
import type { ResilientBlobStore } from '../remote/resilient-store.js';
import { Limiter } from './limiter.js';
import { acKey, casKey } from './remote-layout.js';

/** Blobs up to this size are read into memory and put in one request; larger ones stream. */
const BUFFERED_MAX = 8 << 20;

/** Progress of the uploads so far (for the progress line and the summary). */
export interface UploadProgress {
  readonly recordsQueued: number;
  readonly recordsDone: number;
  readonly recordsUploaded: number;
  readonly recordsDropped: number;
  /** Records not put because the remote already had one for that key (never replaced). */
  readonly recordsPresent: number;
  readonly blobsUploaded: number;
  readonly bytesUploaded: number;
}

export interface UploaderOptions {
  readonly remote: BlobStore;
  readonly local: ObjectStore;
  readonly concurrency: number;
  /** The bytes of `ac/<key>.json` for a record (signed when a key is configured). */
  readonly encodeRecord: (record: ActionRecord) => Buffer;
  /**
   * Runs one remote request under the tier's fault policy (breaker, classification, one
   * warning per kind). Returns `{ ok: false }` when it failed or was not attempted.
   */
  readonly guard: <T>(fn: (signal: AbortSignal) => Promise<T>) => Promise<{ ok: true; value: T } | { ok: false }>;
  /** Called when a record reached the remote. */
  readonly onUploaded?: (record: ActionRecord, blobs: number, bytes: number, durationMs: number) => void;
  /** Aborts queued work (an interrupted run). */
  readonly signal?: AbortSignal;
}

export class Uploader {
  readonly #opts: UploaderOptions;
  readonly #limit: Limiter;
  /** Per digest: the bytes this run uploaded for it (0 when it was already there), or undefined when it failed. */
  readonly #blobs = new Map<string, Promise<number | undefined>>();
  readonly #pending = new Set<Promise<void>>();
  /** Woken whenever a queued record is done (see {@link flush}). */
  #onDone: (() => void)[] = [];
  /** Blobs known to be present remotely with their sizes (from one listing), so no `stat` is needed. */
  readonly #listed = new Map<string, number>();
  /** True once a complete listing was taken: a blob not in it is absent, and is put without a `stat`. */
  #listedAll = false;
  /** Task keys of the records a complete listing found (cache push); undefined: none was made. */
  #listedRecords: ReadonlySet<string> | undefined;
  /** Blobs whose remote copy failed verification in this process: put again whatever its size. */
  readonly #damaged = new Set<string>();
  #queued = 0;
  #done = 0;
  #uploaded = 0;
  #dropped = 0;
  #present = 0;
  #blobsUploaded = 0;
  #bytes = 0;

  constructor(opts: UploaderOptions) {
    this.#opts = opts;
    this.#limit = new Limiter(opts.concurrency);
  }

  get progress(): UploadProgress {
    return {
      recordsQueued: this.#queued,
      recordsDone: this.#done,
      recordsUploaded: this.#uploaded,
      recordsDropped: this.#dropped,
      recordsPresent: this.#present,
      blobsUploaded: this.#blobsUploaded,
      bytesUploaded: this.#bytes,
    };
  }

  /**
   * Remembers blobs a complete listing found present (digest → size): a bulk push checks
   * presence with one listing per 1,000 blobs instead of one `stat` per blob, and puts a blob
   * the listing did not show without asking first (at worst a blob another writer uploaded
   * since the listing is uploaded again, with the same bytes).
   */
  knownPresent(listed: ReadonlyMap<string, number>, records?: ReadonlySet<string>): void {
    for (const [d, size] of listed) this.#listed.set(d, size);
    this.#listedAll = true;
    if (records !== undefined) this.#listedRecords = records;
  }

  /**
   * Marks a blob whose remote copy failed verification: a damaged copy usually has the right
   * size (a flipped byte), so the size check would keep it forever. Its next upload replaces it.
   */
  markDamaged(digest: string): void {
    this.#damaged.add(digest);
    this.#listed.delete(digest);
    this.#blobs.delete(digest);
  }

  /** Queues a record (its blobs must be in the local store); returns at once. */
  enqueue(record: ActionRecord): void {
    this.#queued += 1;
    const p = this.#upload(record)
      .catch((): boolean => false)
      .then((ok) => {
        this.#done += 1;
        if (ok === 'present') this.#present += 1;
        else if (ok) this.#uploaded += 1;
        else this.#dropped += 1;
        this.#pending.delete(p);
        const waiting = this.#onDone;
        this.#onDone = [];
        for (const wake of waiting) wake();
      });
    this.#pending.add(p);
  }

  /** Waits until every queued record is uploaded or dropped; `onProgress` is called as they finish. */
  async flush(onProgress?: (p: UploadProgress) => void): Promise<UploadProgress> {
    // Woken by each record as it finishes. Not `Promise.race(pending)` in a loop: every race
    // adds a reaction to each pending promise, which for a push of n records is n²/2 reactions
    // (half a second of CPU for 1,000 records).
    while (this.#pending.size > 0) {
      await new Promise<void>((resolve) => this.#onDone.push(resolve));
      onProgress?.(this.progress);
    }
    return this.progress;
  }

  async #upload(record: ActionRecord): Promise<boolean | 'present'> {
    const started = performance.now();
    // An existing record is never replaced: a writer with a wrong or missing signing key (or a
    // forced re-run that produced other bytes) must not overwrite what the team already shares.
    // The put is create-only, which the stores check atomically (s3rver excepted); the stat
    // before it saves uploading the blobs of a record that is there already, and is skipped
    // when a listing made for this push just showed the record absent. When presence cannot be
    // checked, nothing is put.
    const listed = this.#listedRecords;
    const existing = listed !== undefined && !listed.has(record.key)
      ? ({ ok: true, value: undefined } as const)
      : await this.#limit.run(() => this.#opts.guard((signal) => this.#opts.remote.stat(acKey(record.key), { signal })));
    if (!existing.ok) return false;
    if (existing.value !== undefined) {
      // The record stays; a blob of it that failed verification in this process is put again
      // (blobs are named by their content, so replacing one never changes what the record says).
      const damaged = storedBlobs(record).filter((d) => this.#damaged.has(d));
      await Promise.all(damaged.map((d) => this.#blob(d)));
      return 'present';
    }
    const digests = storedBlobs(record);
    const sizes = await Promise.all(digests.map((d) => this.#blob(d)));
    if (sizes.some((s) => s === undefined) || this.#opts.signal?.aborted) return false;
    const body = this.#opts.encodeRecord(record);
    const put = await this.#limit.run(() =>
      this.#opts.guard((signal) => this.#opts.remote.put(acKey(record.key), body, { size: body.length, contentType: 'application/json', ifAbsent: true, signal })),
    );
    if (!put.ok) return false;
    if (put.value === 'exists') return 'present'; // another writer's record arrived first: it stays
    const bytes = body.length + sizes.reduce<number>((a, s) => a + (s ?? 0), 0);
    this.#bytes += body.length;
    this.#opts.onUploaded?.(record, sizes.filter((s) => (s ?? 0) > 0).length, bytes, Math.round(performance.now() - started));
    return true;
  }

  #blob(digest: string): Promise<number | undefined> {
    let p = this.#blobs.get(digest);
    if (p === undefined) {
      p = this.#putBlob(digest).catch(() => undefined);
      this.#blobs.set(digest, p);
    }
    return p;
  }

  async #putBlob(digest: string): Promise<number | undefined> {
    const file = this.#opts.local.objectPath(digest);
    const size = (await stat(file)).size;
    const key = casKey(digest);
    return this.#limit.run(async () => {
      if (this.#opts.signal?.aborted) return undefined;
      // Known from a listing (cache push): no request needed.
      if (this.#listed.get(digest) === size) return 0;
      if (!this.#listedAll && !this.#damaged.has(digest)) {
        const there = await this.#opts.guard((signal) => this.#opts.remote.stat(key, { signal }));
        if (!there.ok) return undefined;
        // A remote copy of another size is a torn upload from someone else: replace it.
        if (there.value !== undefined && there.value.size === size) return 0;
      }
      const remote = this.#opts.remote;
      const put = await this.#opts.guard(async (signal) => {
        const opts = { size, contentType: 'application/octet-stream', signal };
        if (size <= BUFFERED_MAX) return remote.put(key, await readFile(file), opts);
        // A stream cannot be replayed: with a retrying store, reopen the file per attempt.
        if (hasPutFrom(remote)) return remote.putFrom(key, () => createReadStream(file), opts);
        return remote.put(key, createReadStream(file), opts);
      });
      if (!put.ok) return undefined;
      this.#blobsUploaded += 1;
      this.#bytes += size;
      return size;
    });
  }
}

/** Stores that can retry a streamed put by reopening its body (the resilient wrapper, the lazy one). */
function hasPutFrom(store: BlobStore): store is BlobStore & Pick<ResilientBlobStore, 'putFrom'> {
  return typeof (store as Partial<Pick<ResilientBlobStore, 'putFrom'>>).putFrom === 'function';
}
