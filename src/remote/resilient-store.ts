/**
 * A {@link BlobStore} wrapper that bounds and retries calls to a remote, so that a slow, flaky
 * or dead remote costs a bounded amount of time and never an unclassified exception:
 *
 * - every attempt gets its own AbortSignal: the first answer of has/stat/get/delete/list is
 *   bounded by `connectTimeoutMs` (a server that accepts connections but never answers is
 *   treated like one that cannot be reached), and the request by `requestTimeoutMs`, counted
 *   afresh whenever a streamed body (a download, or a put from a stream) makes progress: a
 *   large blob on a slow but working link moves, a stalled one fails. A put of a Buffer shows
 *   no progress and so is bounded as a whole;
 * - `transient` errors (5xx, 429, resets, refused connections, timeouts) are retried up to
 *   `retries` times with exponential backoff and jitter; `auth`, `no-bucket`, `integrity` and
 *   `permanent` errors are thrown at once, and so is everything after the caller's own signal
 *   fired;
 * - whatever the inner store throws comes out as a {@link BlobStoreError}.
 *
 * What is not retried, because it cannot be replayed: a put whose body is a stream (use
 * {@link ResilientBlobStore.putFrom} to reopen the source per attempt), a download whose body
 * fails after the stream was handed out (the caller sees the stream error), a listing that
 * fails after it yielded entries. The circuit breaker lives above this layer.
 */
import type { Readable } from 'node:stream';
import { followAbort } from '../util/abort-fanout.js';
import { BlobStoreError, type BlobInfo, type BlobStore, type PutOptions, type PutOutcome, type RequestOptions } from './blob-store.js';
import { abortError } from './abort.js';
import { classifyError } from './classify-error.js';
import { withProgress } from './progress-stream.js';
import { readBody } from './read-small.js';

/** Options of a {@link ResilientBlobStore}. */
export interface ResilienceOptions {
  /** Retries of a transient error (0 = one attempt only). Default 3. */
  readonly retries?: number;
  /** Deadline of the first answer of has/stat/get/delete/list/ensureBucket. Default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /** Deadline of one attempt; a streamed body restarts it with every chunk it moves. Default 60000 ms. */
  readonly requestTimeoutMs?: number;
  /** First backoff delay; doubles per retry. Default 100 ms. */
  readonly baseDelayMs?: number;
  /** Largest backoff delay. Default 5000 ms. */
  readonly maxDelayMs?: number;
  /** Source of jitter in [0, 1); injectable for deterministic tests. Default Math.random. */
  readonly random?: () => number;
  /** Told about every failed attempt that will be retried (for logs and metrics). */
  readonly onRetry?: (info: { readonly op: string; readonly key: string; readonly attempt: number; readonly delayMs: number; readonly error: BlobStoreError }) => void;
}

/** The resolved knobs of {@link ResilienceOptions}. */
interface Knobs {
  readonly retries: number;
  readonly connectMs: number;
  readonly requestMs: number;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly random: () => number;
  readonly onRetry: ResilienceOptions['onRetry'];
}

/** One attempt's signal and timers. */
interface Attempt {
  readonly signal: AbortSignal;
  /** Ends the first-answer deadline (the answer came). */
  answered(): void;
  /** The body moved: the request deadline starts again (it becomes an idle deadline). */
  progress(): void;
  /** Releases the timers. */
  done(): void;
}

/** Retries and timeouts around any {@link BlobStore}; see the module comment. */
export class ResilientBlobStore implements BlobStore {
  readonly description: string;
  readonly #inner: BlobStore;
  readonly #k: Knobs;

  constructor(inner: BlobStore, opts: ResilienceOptions = {}) {
    this.#inner = inner;
    this.description = inner.description;
    this.#k = {
      retries: Math.max(0, opts.retries ?? 3),
      connectMs: opts.connectTimeoutMs ?? 5000,
      requestMs: opts.requestTimeoutMs ?? 60_000,
      baseMs: opts.baseDelayMs ?? 100,
      maxMs: opts.maxDelayMs ?? 5000,
      random: opts.random ?? Math.random,
      onRetry: opts.onRetry,
    };
  }

  /** The wrapped store. */
  get inner(): BlobStore {
    return this.#inner;
  }

  has(key: string, opts?: RequestOptions): Promise<boolean> {
    return this.#call('has', key, opts, true, (signal) => this.#inner.has(key, { signal }));
  }

  stat(key: string, opts?: RequestOptions): Promise<BlobInfo | undefined> {
    return this.#call('stat', key, opts, true, (signal) => this.#inner.stat(key, { signal }));
  }

  delete(key: string, opts?: RequestOptions): Promise<void> {
    return this.#call('delete', key, opts, true, (signal) => this.#inner.delete(key, { signal }));
  }

  ensureBucket(opts?: RequestOptions): Promise<void> {
    return this.#call('ensureBucket', '', opts, true, (signal) => this.#inner.ensureBucket({ signal }));
  }

  /** Retried only when `body` is a Buffer; a stream is sent once (see {@link putFrom}). */
  put(key: string, body: Buffer | Readable, opts?: PutOptions & RequestOptions): Promise<PutOutcome> {
    const rest = putRest(opts);
    if (Buffer.isBuffer(body)) return this.#call('put', key, opts, false, (signal) => this.#inner.put(key, body, { ...rest, signal }));
    return this.#call('put', key, opts, false, (signal, a) => this.#inner.put(key, withProgress(body, a.progress), { ...rest, signal }), 0);
  }

  /** A put that can be retried: `open` is called once per attempt for a fresh body. */
  putFrom(key: string, open: () => Buffer | Readable | Promise<Buffer | Readable>, opts?: PutOptions & RequestOptions): Promise<PutOutcome> {
    const rest = putRest(opts);
    return this.#call('put', key, opts, false, async (signal, a) => {
      const body = await open();
      return this.#inner.put(key, Buffer.isBuffer(body) ? body : withProgress(body, a.progress), { ...rest, signal });
    });
  }

  /**
   * The stream's body is bounded by the request timeout of the attempt that produced it, as an
   * idle deadline (each chunk restarts it); a failure after the stream was returned errors the
   * stream (it is not retried). Consume it with pipeline() or async iteration, which surface
   * that error.
   */
  get(key: string, opts?: RequestOptions): Promise<Readable | undefined> {
    return this.#call('get', key, opts, true, async (signal, attempt) => {
      // The inner store hears of an abort only after the stream was destroyed with our reason
      // (which says what ran out of time), not with its own generic one.
      const inner = new AbortController();
      let stream: Readable | undefined;
      signal.addEventListener('abort', () => {
        stream?.destroy(this.#abortReason(signal, opts?.signal, 'get', key));
        inner.abort(signal.reason);
      }, { once: true });
      const raw = await this.#inner.get(key, { signal: inner.signal });
      if (raw === undefined) return undefined;
      stream = withProgress(raw, attempt.progress);
      if (signal.aborted) stream.destroy(this.#abortReason(signal, opts?.signal, 'get', key));
      // The timers now guard the body: keep them until the stream is finished either way.
      attempt.answered();
      stream.once('close', () => attempt.done());
      // A timeout may destroy the stream before the caller attached its handlers; without a
      // listener that would be an uncaught 'error'. Readers still get the error: a destroyed
      // stream rethrows it from pipeline() and async iteration.
      stream.on('error', () => undefined);
      return stream;
    }, undefined, true);
  }

  /**
   * The whole blob in memory, or undefined when it does not exist; refused as `integrity` past
   * `maxBytes`. For small objects (action records): no stream is handed out, and a body that
   * fails half-way is retried like any other transient failure. Deadlines as for {@link get}.
   */
  getBytes(key: string, maxBytes: number, opts?: RequestOptions): Promise<Buffer | undefined> {
    return this.#call('get', key, opts, true, async (signal, attempt) => {
      const body = await this.#inner.get(key, { signal });
      if (body === undefined) return undefined;
      attempt.answered();
      // A body the store does not end when the signal fires (the signal reaches its request,
      // not necessarily its stream) is ended here.
      const stop = (): void => void body.destroy(new TimeoutReason('aborted'));
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
      try {
        return await readBody(body, maxBytes, `${this.description}: get ${key}`, attempt.progress);
      } finally {
        signal.removeEventListener('abort', stop);
      }
    });
  }

  async *list(prefix: string, opts?: RequestOptions): AsyncIterable<BlobInfo> {
    for (let attempt = 0; ; attempt++) {
      const a = this.#attempt(opts?.signal, true);
      let yielded = false;
      try {
        for await (const info of this.#inner.list(prefix, { signal: a.signal })) {
          a.answered();
          yielded = true;
          yield info;
        }
        return;
      } catch (e: unknown) {
        const err = this.#abortReasonOr(e, a.signal, opts?.signal, 'list', prefix);
        if (yielded || !(await this.#shouldRetry(err, attempt, this.#k.retries, 'list', prefix, opts?.signal))) throw err;
      } finally {
        a.done();
      }
    }
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  /**
   * Runs `fn` with retries. `keepTimers`: the result (a stream) owns the attempt's timers and
   * releases them itself.
   */
  async #call<T>(
    op: string,
    key: string,
    opts: RequestOptions | undefined,
    answerDeadline: boolean,
    fn: (signal: AbortSignal, attempt: Attempt) => Promise<T>,
    retries = this.#k.retries,
    keepTimers = false,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const a = this.#attempt(opts?.signal, answerDeadline);
      let handedOver = false;
      try {
        const value = await fn(a.signal, a);
        handedOver = keepTimers && value !== undefined;
        return value;
      } catch (e: unknown) {
        const err = this.#abortReasonOr(e, a.signal, opts?.signal, op, key);
        if (!(await this.#shouldRetry(err, attempt, retries, op, key, opts?.signal))) throw err;
      } finally {
        if (!handedOver) a.done();
      }
    }
  }

  #attempt(caller: AbortSignal | undefined, answerDeadline: boolean): Attempt {
    const ctl = new AbortController();
    const fire = (why: string) => (): void => ctl.abort(new TimeoutReason(why));
    let moved = false;
    const requestMs = this.#k.requestMs;
    const total = setTimeout(() => fire(moved ? `no progress within ${requestMs} ms` : `no complete answer within ${requestMs} ms`)(), requestMs);
    let first = answerDeadline ? setTimeout(fire(`no answer within ${this.#k.connectMs} ms`), this.#k.connectMs) : undefined;
    // The caller's signal (one run-wide signal is shared by many concurrent calls) aborts this
    // attempt through followAbort: one listener on it for all of them, not one each.
    const unfollow = caller === undefined ? undefined : followAbort(caller, ctl);
    return {
      signal: ctl.signal,
      answered: () => {
        clearTimeout(first);
        first = undefined;
      },
      progress: () => {
        moved = true;
        if (!ctl.signal.aborted) total.refresh();
      },
      done: () => {
        clearTimeout(first);
        clearTimeout(total);
        unfollow?.();
      },
    };
  }

  /** The error to report for a failed attempt: our own timeout, the caller's abort, or `e` classified. */
  #abortReasonOr(e: unknown, attempt: AbortSignal, caller: AbortSignal | undefined, op: string, key: string): BlobStoreError {
    if (attempt.aborted) return this.#abortReason(attempt, caller, op, key);
    return e instanceof BlobStoreError ? e : classifyError(e, `${this.description}: ${op} ${key}`.trimEnd());
  }

  #abortReason(attempt: AbortSignal, caller: AbortSignal | undefined, op: string, key: string): BlobStoreError {
    if (caller?.aborted === true) return abortError(caller);
    const reason: unknown = attempt.reason;
    const why = reason instanceof TimeoutReason ? reason.message : 'request aborted';
    return new BlobStoreError('transient', `${this.description}: ${op} ${key}`.trimEnd() + `: ${why}`, undefined, { cause: reason });
  }

  async #shouldRetry(err: BlobStoreError, attempt: number, retries: number, op: string, key: string, caller: AbortSignal | undefined): Promise<boolean> {
    if (err.kind !== 'transient' || attempt >= retries || caller?.aborted === true) return false;
    const cap = Math.min(this.#k.maxMs, this.#k.baseMs * 2 ** attempt);
    // "Equal jitter": at least half the backoff, so retries never bunch up at zero.
    const delayMs = Math.round(cap / 2 + (cap / 2) * this.#k.random());
    this.#k.onRetry?.({ op, key, attempt: attempt + 1, delayMs, error: err });
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        caller?.removeEventListener('abort', onAbort);
        resolve(true);
      }, delayMs);
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve(false);
      };
      caller?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** The abort reason of an attempt that ran out of time. */
class TimeoutReason extends Error {
  override readonly name = 'TimeoutError';
}

function putRest(opts: (PutOptions & RequestOptions) | undefined): PutOptions {
  return {
    ...(opts?.size === undefined ? {} : { size: opts.size }),
    ...(opts?.contentType === undefined ? {} : { contentType: opts.contentType }),
    ...(opts?.ifAbsent === undefined ? {} : { ifAbsent: opts.ifAbsent }),
  };
}
