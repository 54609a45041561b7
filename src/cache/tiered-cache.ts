/**
 * The remote tier of the cache: local first (the caller's job), then this. It owns the fault
 * policy for everything that talks to the remote during a run:
 *
 * - every request goes through {@link RemoteTier.guard}: the circuit breaker (breaker.ts) may
 *   refuse it; a failure is classified (blob-store.ts) and reported once per kind and run as a
 *   warning (`remote auth failed: …`, `remote cache unavailable: …`, …), never thrown, so a
 *   remote can slow a build by a bounded amount but never fail it;
 * - an auth error stops that direction (reads or writes) for the rest of the run, a missing
 *   bucket stops both: every further request would fail the same way;
 * - a remote hit is verified before anything lands in the local CAS: record shape and key,
 *   signature when a key is configured, and every blob's digest while it streams
 *   (remote-import.ts). The record is written to the local action cache last.
 */
import { storedBlobs, type ActionCache, type ActionRecord } from '../cas/action-cache.js';
import type { ObjectStore } from '../cas/object-store.js';
import type { MissReason, RemoteSummary, RemoteWarningKind } from '../events/events.js';
import type { FileDigest, TaskKey } from '../hash/digest.js';
import { BlobStoreError, type BlobStore } from '../remote/blob-store.js';
import type { CircuitBreaker } from './breaker.js';
import { Limiter } from './limiter.js';
import { importBlob } from './remote-import.js';
import { casKey, encodeRemoteRecord, parseRemoteRecord, readRemoteRecord } from './remote-layout.js';
import { keyRecordProblem } from './record-check.js';
import { checkSignature } from './signing.js';
import { Uploader, type UploadProgress } from './uploader.js';

export type { RemoteWarningKind };

/** How the tier reports what happened (the run turns these into events). */
export interface RemoteSink {
  warning(message: string, kind: RemoteWarningKind, task?: string): void;
  transfer(t: RemoteTransfer): void;
}

/** One task's worth of data moved to or from the remote. */
export interface RemoteTransfer {
  readonly direction: 'download' | 'upload';
  readonly task: string;
  readonly key: string;
  /** Blobs actually moved (present ones are skipped). */
  readonly blobs: number;
  readonly bytes: number;
  readonly durationMs: number;
}

/** The outcome of looking a key up in the remote. */
export type RemoteFetch =
  | { readonly kind: 'hit'; readonly record: ActionRecord; readonly bytesDownloaded: number }
  | { readonly kind: 'miss'; readonly reason: MissReason; readonly detail?: string };

export interface RemoteTierOptions {
  readonly remote: BlobStore;
  /** `ro`: never write. (`off` is no tier at all.) */
  readonly mode: 'rw' | 'ro';
  readonly signingKey?: Buffer;
  readonly concurrency: number;
  readonly breaker: CircuitBreaker;
  readonly sink: RemoteSink;
  readonly local: ObjectStore;
  readonly signal?: AbortSignal;
}

type Guarded<T> = { ok: true; value: T } | { ok: false; kind: RemoteWarningKind | 'refused' };

export class RemoteTier {
  readonly #o: RemoteTierOptions;
  readonly #warned = new Set<RemoteWarningKind>();
  readonly #downloads: Limiter;
  readonly #uploader: Uploader | undefined;
  #readOff = false;
  #outage = new AbortController();
  #combined: { readonly outage: AbortController; readonly signal: AbortSignal } | undefined;
  #writeOff = false;
  #hits = 0;
  #misses = 0;
  #bytesDown = 0;

  constructor(opts: RemoteTierOptions) {
    this.#o = opts;
    this.#downloads = new Limiter(opts.concurrency);
    this.#uploader =
      opts.mode === 'rw'
        ? new Uploader({
            remote: opts.remote,
            local: opts.local,
            concurrency: opts.concurrency,
            encodeRecord: (r) => encodeRemoteRecord(r, opts.signingKey),
            guard: (fn) => this.guard('write', fn),
            onUploaded: (record, blobs, bytes, durationMs) =>
              opts.sink.transfer({ direction: 'upload', task: record.task, key: record.key, blobs, bytes, durationMs }),
            ...(opts.signal ? { signal: opts.signal } : {}),
          })
        : undefined;
  }

  /** Description of the remote without credentials. */
  get description(): string {
    return this.#o.remote.description;
  }

  /** Totals of this run's remote traffic (the summary line and `run-finished`). */
  get totals(): RemoteSummary {
    const up: UploadProgress | undefined = this.#uploader?.progress;
    return {
      hits: this.#hits,
      misses: this.#misses,
      bytesDownloaded: this.#bytesDown,
      bytesUploaded: up?.bytesUploaded ?? 0,
      recordsUploaded: up?.recordsUploaded ?? 0,
      blobsUploaded: up?.blobsUploaded ?? 0,
    };
  }

  /**
   * Runs one request under the fault policy. Never throws: failures are classified, counted
   * by the breaker when they are outages, and reported once per kind.
   */
  async guard<T>(direction: 'read' | 'write', fn: (signal: AbortSignal) => Promise<T>): Promise<Guarded<T>> {
    if ((direction === 'read' ? this.#readOff : this.#writeOff) || this.#o.signal?.aborted) return { ok: false, kind: 'refused' };
    if (!this.#o.breaker.allow()) return { ok: false, kind: 'refused' };
    // Aborted when the breaker opens: requests in flight (and their retries) stop at once.
    const signal = this.#requestSignal();
    try {
      const value = await fn(signal);
      this.#o.breaker.success();
      return { ok: true, value };
    } catch (e: unknown) {
      if (signal.aborted) return { ok: false, kind: 'refused' }; // cut short by the breaker or the run's interrupt
      return { ok: false, kind: this.#failed(direction, e) };
    }
  }

  /**
   * The signal of requests until the breaker next opens: the outage signal combined with the
   * run's. Made once per outage period, not per request (AbortSignal.any is not cheap, and a
   * run makes thousands of requests).
   */
  #requestSignal(): AbortSignal {
    const outage = this.#outage;
    if (this.#combined?.outage !== outage) {
      this.#combined = { outage, signal: this.#o.signal ? AbortSignal.any([outage.signal, this.#o.signal]) : outage.signal };
    }
    return this.#combined.signal;
  }

  /**
   * A failed attempt that the store will retry (its `onRetry`): it counts toward the breaker
   * too, so a dead remote opens it after `threshold` failed attempts, not `threshold` × retries.
   */
  noteRetry(error?: unknown): void {
    this.#outageSeen(error);
  }

  /** One outage observed; opens the breaker at the threshold (one warning per run) and cuts requests in flight. */
  #outageSeen(error: unknown): void {
    if (!this.#o.breaker.failure()) return;
    if (this.#o.breaker.timesOpened === 1) {
      const why = error instanceof Error ? ` (${error.message})` : '';
      this.warnOnce('breaker', `remote cache ${this.#o.remote.description} failed repeatedly${why}; not calling it for a while (circuit breaker open); the build goes on with the local cache`);
    }
    this.#outage.abort();
    this.#outage = new AbortController();
  }

  #failed(direction: 'read' | 'write', e: unknown): RemoteWarningKind {
    const kind = e instanceof BlobStoreError ? e.kind : 'permanent';
    const where = this.#o.remote.description;
    const full = e instanceof Error ? e.message : String(e);
    // Store errors already open with the remote's description: name the remote once.
    const msg = full.startsWith(`${where}: `) ? full.slice(where.length + 2) : full;
    switch (kind) {
      case 'transient': {
        this.warnOnce('unavailable', `remote cache ${where} unavailable: ${msg}; continuing without it`);
        this.#outageSeen(e);
        return 'unavailable';
      }
      case 'auth':
        if (direction === 'read') this.#readOff = true;
        else this.#writeOff = true;
        this.warnOnce('auth', `remote auth failed: ${where}: ${msg}; check the credentials (the remote is not used for ${direction === 'read' ? 'reads' : 'writes'} in this run)`);
        return 'auth';
      case 'no-bucket':
        this.#readOff = true;
        this.#writeOff = true;
        this.warnOnce('no-bucket', `remote cache ${where}: the bucket does not exist (create it with "reprovm cache init-remote"); not using the remote in this run`);
        return 'no-bucket';
      case 'integrity':
        this.#o.breaker.success(); // the server answered; this is about the bytes, not an outage
        this.warnOnce('integrity', `remote cache ${where} sent a damaged response: ${msg}; it was not used`);
        return 'integrity';
      case 'permanent':
        this.warnOnce('error', `remote cache ${where} error: ${msg}`);
        return 'error';
    }
  }

  warnOnce(kind: RemoteWarningKind, message: string, task?: string): void {
    if (this.#warned.has(kind)) return;
    this.#warned.add(kind);
    this.#o.sink.warning(message, kind, task);
  }

  /**
   * Looks `key` up remotely; on a verified hit its blobs and record are in the local cache
   * afterwards. `forRestore`: the outputs are restored next, so the import keeps verified raw
   * copies for that restore (one pass over each blob instead of import, then decode again).
   */
  async fetch(
    key: TaskKey,
    task: string,
    actions: ActionCache,
    opts: { readonly forRestore?: boolean; readonly accept?: (record: ActionRecord) => string | undefined } = {},
  ): Promise<RemoteFetch> {
    const result = await this.#fetch(key, task, actions, opts.forRestore === true, opts.accept);
    if (result.kind === 'hit') this.#hits += 1;
    else this.#misses += 1;
    return result;
  }

  async #fetch(
    key: TaskKey,
    task: string,
    actions: ActionCache,
    forRestore: boolean,
    accept: ((record: ActionRecord) => string | undefined) | undefined,
  ): Promise<RemoteFetch> {
    const started = performance.now();
    const got = await this.#downloads.run(() => this.guard('read', (signal) => this.#readRecord(key, signal)));
    if (!got.ok) return { kind: 'miss', reason: got.kind === 'integrity' ? 'corrupt' : 'remote-error' };
    if (got.value === undefined) return { kind: 'miss', reason: 'no-record' };
    let bytes = got.value.length;
    this.#bytesDown += bytes;
    const parsed = this.#parseRecord(got.value, key, task);
    if (parsed.kind === 'miss') return parsed;
    const record = parsed.record;
    // Checked before any blob is imported: a record for another task or with stray paths is refused whole.
    const mismatch = keyRecordProblem(record) ?? accept?.(record);
    if (mismatch !== undefined) {
      this.warnOnce('integrity', `remote cache ${this.description}: the action record of task "${task}" was refused (${mismatch}); it was not used and the task runs`, task);
      return { kind: 'miss', reason: 'corrupt' };
    }

    let moved = 0;
    const sizes = new Map<string, number>();
    for (const o of record.outputs) if (o.kind === 'file' && o.digest !== undefined && o.size !== undefined) sizes.set(o.digest, o.size);
    const outcomes = await Promise.all(
      storedBlobs(record).map(async (digest): Promise<RemoteFetch | number> => {
        if (await this.#o.local.has(digest)) return 0;
        return this.#downloads.run(async () => {
          const r = await this.guard('read', (signal) => this.#importBlob(digest as FileDigest, signal, forRestore, sizes.get(digest)));
          if (!r.ok) {
            if (r.kind === 'integrity') this.#uploader?.markDamaged(digest);
            return { kind: 'miss', reason: r.kind === 'integrity' ? 'corrupt' : 'remote-error' };
          }
          if (r.value === 'missing') return { kind: 'miss', reason: 'no-record', detail: `blob ${digest} is missing remotely` };
          if (typeof r.value === 'string') {
            this.#uploader?.markDamaged(digest);
            this.warnOnce('integrity', `remote cache ${this.description}: blob ${digest.slice(0, 12)}… of task "${task}" failed verification (${r.value}); it was not imported and the task runs`, task);
            return { kind: 'miss', reason: 'corrupt' };
          }
          moved += 1;
          this.#bytesDown += r.value;
          bytes += r.value;
          return r.value;
        });
      }),
    );
    const miss = outcomes.find((o): o is RemoteFetch => typeof o !== 'number');
    if (miss !== undefined) return miss;
    await actions.put(record, { parsed: true }); // parseRemoteRecord checked it (recordProblem)
    this.#o.sink.transfer({ direction: 'download', task, key, blobs: moved, bytes, durationMs: Math.round(performance.now() - started) });
    return { kind: 'hit', record, bytesDownloaded: bytes };
  }

  #readRecord(key: TaskKey, signal: AbortSignal): Promise<Buffer | undefined> {
    return readRemoteRecord(this.#o.remote, key, { signal });
  }

  /** Imports one blob; 'missing', the corruption message, or the bytes received. */
  async #importBlob(digest: FileDigest, signal: AbortSignal, forRestore: boolean, expectedSize: number | undefined): Promise<number | string> {
    const body = await this.#o.remote.get(casKey(digest), { signal });
    if (body === undefined) return 'missing';
    // The body may fail before importBlob starts reading it; the error is seen there (stream.errored).
    body.on('error', () => undefined);
    const r = await importBlob(this.#o.local, digest, body, { forRestore, ...(expectedSize === undefined ? {} : { expectedSize }) });
    return r.ok ? r.bytes : r.message;
  }

  #parseRecord(bytes: Buffer, key: TaskKey, task: string): { kind: 'hit'; record: ActionRecord } | Extract<RemoteFetch, { kind: 'miss' }> {
    const parsed = parseRemoteRecord(bytes, key);
    if (!parsed.ok) {
      this.warnOnce('integrity', `remote cache ${this.description}: the action record of task "${task}" is malformed (${parsed.problem}); ignored`, task);
      return { kind: 'miss', reason: 'corrupt' };
    }
    if (this.#o.signingKey) {
      const verdict = checkSignature(parsed.record, parsed.signature, this.#o.signingKey);
      if (verdict !== 'valid') {
        const what = verdict === 'missing' ? 'is not signed' : 'has a bad signature';
        this.warnOnce('signature', `remote cache ${this.description}: the action record of task "${task}" ${what}; not restored (records that fail the signature check are misses)`, task);
        return { kind: 'miss', reason: 'signature', detail: what };
      }
    }
    return { kind: 'hit', record: parsed.record };
  }

  /**
   * Lists the remote's blobs and records once so that a bulk upload (`cache push`) needs no
   * `stat` per blob or record: one create-only put per missing record. Best effort: when the
   * listing fails, every blob and record is checked on its own.
   */
  async primePresentBlobs(): Promise<void> {
    if (this.#uploader === undefined) return;
    const listed = await this.guard('write', async (signal) => {
      const found = new Map<string, number>();
      for await (const b of this.#o.remote.list('cas/', { signal })) {
        const m = /^cas\/([0-9a-f]{64})$/.exec(b.key);
        if (m?.[1] !== undefined) found.set(m[1], b.size);
      }
      const records = new Set<string>();
      for await (const b of this.#o.remote.list('ac/', { signal })) {
        const m = /^ac\/([0-9a-f]{64})\.json$/.exec(b.key);
        if (m?.[1] !== undefined) records.add(m[1]);
      }
      return { found, records };
    });
    if (listed.ok) this.#uploader.knownPresent(listed.value.found, listed.value.records);
  }

  /** Queues a finished task's record for upload (rw mode); returns at once. */
  upload(record: ActionRecord): void {
    if (this.#writeOff) return;
    this.#uploader?.enqueue(record);
  }

  /** Waits for queued uploads. */
  async flush(onProgress?: (p: UploadProgress) => void): Promise<UploadProgress | undefined> {
    return this.#uploader?.flush(onProgress);
  }

  /** Progress of the uploads (undefined in ro mode). */
  get uploads(): UploadProgress | undefined {
    return this.#uploader?.progress;
  }
}
