/**
 * An in-memory {@link BlobStore} for tests, with fault injection. It behaves like a well-behaved
 * adapter (puts are atomic: a blob is replaced only once its whole body has been read, so
 * concurrent puts of one key leave exactly one of them; a missing key is undefined/false), and
 * each operation can be made to fail the way a real remote does:
 *
 * - `error`: throw a {@link BlobStoreError} of the given kind (a 503, a 403, a missing bucket);
 * - `hang`: never answer until the request's signal aborts (a server that accepts and stalls);
 * - `delay`: answer after `ms` (abortable);
 * - `truncate`: `get` delivers only the first `bytes` then errors the stream (`integrity`, as
 *   an adapter that checks Content-Length does), or with `quiet` ends early without an error
 *   (an adapter that does not check; for testing the layers above);
 * - `corrupt`: `get` delivers the full length with bytes flipped (detected later by digest);
 * - `reset`: `get` delivers `afterBytes` then errors the stream (`transient`, like ECONNRESET);
 *   `put` reads `afterBytes` of the body then fails.
 *
 * Faults are rules (`inject`) matched in order by operation and optional key prefix, each for
 * `times` calls (default: every call). `calls` counts every call per operation (faulty or not).
 */
import { Readable } from 'node:stream';
import {
  BlobStoreError,
  type BlobInfo,
  type BlobStore,
  type BlobStoreErrorKind,
  type PutOptions,
  type PutOutcome,
  type RequestOptions,
} from './blob-store.js';
import { abortableSleep, abortError } from './abort.js';
import { assertValidKey } from './keys.js';

/** The operations of a {@link BlobStore} that can be counted and faulted. */
export type BlobOp = 'has' | 'stat' | 'get' | 'put' | 'list' | 'delete' | 'ensureBucket';

/** One way for an operation to go wrong (see the module comment). */
export type Fault =
  | { readonly type: 'error'; readonly kind: BlobStoreErrorKind; readonly status?: number; readonly message?: string }
  | { readonly type: 'hang' }
  | { readonly type: 'delay'; readonly ms: number }
  | { readonly type: 'truncate'; readonly bytes: number; readonly quiet?: boolean }
  | { readonly type: 'corrupt' }
  | { readonly type: 'reset'; readonly afterBytes: number };

/** Where and how often a fault applies. */
export interface FaultScope {
  /** Only keys starting with this (for `list`: the listed prefix). Default: every key. */
  readonly keyPrefix?: string;
  /** Number of matching calls it applies to; default every one. */
  readonly times?: number;
}

interface FaultRule {
  readonly op: BlobOp | '*';
  readonly fault: Fault;
  readonly keyPrefix: string;
  remaining: number;
}

/** Options of a {@link MemoryBlobStore}. */
export interface MemoryStoreOptions {
  /** Shown as the store's description. Default `memory://`. */
  readonly description?: string;
  /** False: the "bucket" does not exist until `ensureBucket` (every other call is `no-bucket`). */
  readonly bucketExists?: boolean;
  /** Chunk size of `get` streams (small values exercise stream handling). Default 64 KiB. */
  readonly chunkSize?: number;
}

const ALL_OPS: readonly BlobOp[] = ['has', 'stat', 'get', 'put', 'list', 'delete', 'ensureBucket'];

/** In-memory blob store with fault injection; see the module comment. */
export class MemoryBlobStore implements BlobStore {
  readonly description: string;
  readonly #blobs = new Map<string, Buffer>();
  readonly #rules: FaultRule[] = [];
  readonly #calls = new Map<BlobOp, number>(ALL_OPS.map((op) => [op, 0]));
  readonly #chunkSize: number;
  #bucketExists: boolean;
  #closed = false;
  /** Fires on close(), so that hanging calls do not outlive the store. */
  readonly #closing = new AbortController();

  constructor(opts: MemoryStoreOptions = {}) {
    this.description = opts.description ?? 'memory://';
    this.#bucketExists = opts.bucketExists ?? true;
    this.#chunkSize = Math.max(1, opts.chunkSize ?? 64 * 1024);
  }

  /** Adds a fault rule for `op` (or every operation with `'*'`). Rules match in the order added. */
  inject(op: BlobOp | '*', fault: Fault, scope: FaultScope = {}): void {
    this.#rules.push({ op, fault, keyPrefix: scope.keyPrefix ?? '', remaining: scope.times ?? Infinity });
  }

  /** Removes every fault rule (the stored blobs and the counters stay). */
  clearFaults(): void {
    this.#rules.length = 0;
  }

  /** Calls made so far, per operation. */
  get calls(): Readonly<Record<BlobOp, number>> {
    return Object.fromEntries(ALL_OPS.map((op) => [op, this.#calls.get(op) ?? 0])) as Record<BlobOp, number>;
  }

  /** Resets the call counters. */
  resetCalls(): void {
    for (const op of ALL_OPS) this.#calls.set(op, 0);
  }

  /** The stored keys (sorted), for assertions. */
  keys(): string[] {
    return [...this.#blobs.keys()].sort();
  }

  /** A copy of a stored blob's bytes without going through faults or counters. */
  peek(key: string): Buffer | undefined {
    const b = this.#blobs.get(key);
    return b === undefined ? undefined : Buffer.from(b);
  }

  /** Stores bytes directly, bypassing faults and counters (test setup). */
  seed(key: string, bytes: Buffer | string): void {
    this.#blobs.set(key, Buffer.from(bytes));
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  async has(key: string, opts?: RequestOptions): Promise<boolean> {
    const fault = await this.#enter('has', key, opts);
    this.#applySimple(fault);
    return this.#blobs.has(key);
  }

  async stat(key: string, opts?: RequestOptions): Promise<BlobInfo | undefined> {
    const fault = await this.#enter('stat', key, opts);
    this.#applySimple(fault);
    const b = this.#blobs.get(key);
    return b === undefined ? undefined : { key, size: b.length };
  }

  async get(key: string, opts?: RequestOptions): Promise<Readable | undefined> {
    const fault = await this.#enter('get', key, opts);
    this.#applySimple(fault);
    const stored = this.#blobs.get(key);
    if (stored === undefined) return undefined;
    let bytes = Buffer.from(stored); // a snapshot: a later put must not change a running read
    let tail: Error | undefined;
    if (fault?.type === 'corrupt') {
      for (let i = 0; i < bytes.length; i += 97) bytes[i] = (bytes[i] ?? 0) ^ 0xff;
    } else if (fault?.type === 'truncate') {
      bytes = bytes.subarray(0, Math.min(fault.bytes, bytes.length));
      if (fault.quiet !== true) {
        tail = new BlobStoreError('integrity', `${this.description}${key}: body ended after ${bytes.length} of ${stored.length} bytes`);
      }
    } else if (fault?.type === 'reset') {
      bytes = bytes.subarray(0, Math.min(fault.afterBytes, bytes.length));
      tail = new BlobStoreError('transient', `${this.description}${key}: connection reset (ECONNRESET) mid-body`);
    }
    return this.#stream(bytes, tail, opts?.signal);
  }

  async put(key: string, body: Buffer | Readable, opts?: PutOptions & RequestOptions): Promise<PutOutcome> {
    const fault = await this.#enter('put', key, opts);
    this.#applySimple(fault);
    if (fault?.type === 'reset') {
      await readAll(body, opts?.signal, fault.afterBytes);
      throw new BlobStoreError('transient', `${this.description}${key}: connection reset (ECONNRESET) during upload`);
    }
    const bytes = await readAll(body, opts?.signal);
    if (opts?.size !== undefined && opts.size !== bytes.length) {
      throw new BlobStoreError('integrity', `${this.description}${key}: body has ${bytes.length} bytes, announced ${opts.size}`);
    }
    if (opts?.ifAbsent === true && this.#blobs.has(key)) return 'exists';
    this.#blobs.set(key, bytes);
    return 'stored';
  }

  async *list(prefix: string, opts?: RequestOptions): AsyncIterable<BlobInfo> {
    const fault = await this.#enter('list', prefix, opts);
    this.#applySimple(fault);
    const found = [...this.#blobs].filter(([k]) => k.startsWith(prefix)).map(([key, b]) => ({ key, size: b.length }));
    for (const info of found) yield info;
  }

  async delete(key: string, opts?: RequestOptions): Promise<void> {
    const fault = await this.#enter('delete', key, opts);
    this.#applySimple(fault);
    this.#blobs.delete(key);
  }

  async ensureBucket(opts?: RequestOptions): Promise<void> {
    this.#calls.set('ensureBucket', (this.#calls.get('ensureBucket') ?? 0) + 1);
    const fault = this.#take('ensureBucket', '');
    await this.#waitFor(fault, opts?.signal);
    this.#applySimple(fault);
    this.#bucketExists = true;
  }

  /** Marks the store closed and ends every hanging call (as a transient error). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort(new Error('store closed'));
  }

  /** Counts the call, picks its fault, waits out hang/delay, and checks the bucket exists. */
  async #enter(op: BlobOp, key: string, opts: RequestOptions | undefined): Promise<Fault | undefined> {
    this.#calls.set(op, (this.#calls.get(op) ?? 0) + 1);
    if (op !== 'list') assertValidKey(key);
    const fault = this.#take(op, key);
    await this.#waitFor(fault, opts?.signal);
    if (!this.#bucketExists) throw new BlobStoreError('no-bucket', `${this.description}: bucket does not exist`, 404);
    return fault;
  }

  #take(op: BlobOp, key: string): Fault | undefined {
    const rule = this.#rules.find((r) => (r.op === op || r.op === '*') && r.remaining > 0 && key.startsWith(r.keyPrefix));
    if (rule === undefined) return undefined;
    rule.remaining -= 1;
    return rule.fault;
  }

  async #waitFor(fault: Fault | undefined, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted === true) throw abortError(signal);
    const until = signal === undefined ? this.#closing.signal : AbortSignal.any([signal, this.#closing.signal]);
    if (fault?.type === 'hang') await abortableSleep(Infinity, until);
    else if (fault?.type === 'delay') await abortableSleep(fault.ms, until);
  }

  #applySimple(fault: Fault | undefined): void {
    if (fault?.type === 'error') {
      throw new BlobStoreError(fault.kind, fault.message ?? `${this.description}: injected ${fault.kind} error`, fault.status);
    }
  }

  #stream(bytes: Buffer, tail: Error | undefined, signal: AbortSignal | undefined): Readable {
    const size = this.#chunkSize;
    let offset = 0;
    const out = new Readable({
      read(): void {
        if (offset < bytes.length) {
          const end = Math.min(offset + size, bytes.length);
          const chunk = bytes.subarray(offset, end);
          offset = end;
          this.push(chunk);
          return;
        }
        if (tail !== undefined) this.destroy(tail);
        else this.push(null);
      },
    });
    if (signal !== undefined) {
      const onAbort = (): void => void out.destroy(abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      out.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    return out;
  }
}

/** Reads a body into memory (at most `limit` bytes when given). */
async function readAll(body: Buffer | Readable, signal: AbortSignal | undefined, limit = Infinity): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return Buffer.from(body.subarray(0, Math.min(limit, body.length)));
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of body) {
      signal?.throwIfAborted();
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      chunks.push(buf);
      n += buf.length;
      if (n >= limit) break;
    }
  } catch (e: unknown) {
    if (e instanceof BlobStoreError) throw e;
    if (signal?.aborted === true) throw abortError(signal);
    throw new BlobStoreError('permanent', `reading the upload body failed: ${(e as Error).message}`, undefined, { cause: e });
  }
  const all = Buffer.concat(chunks);
  return limit === Infinity ? all : all.subarray(0, limit);
}
