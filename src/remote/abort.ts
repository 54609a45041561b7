/**
 * Aborted requests as {@link BlobStoreError}s: adapters throw nothing else, so a cancelled or
 * timed-out call must not escape as a bare DOMException.
 */
import { BlobStoreError } from './blob-store.js';

/**
 * The error an adapter throws when the request's signal fired (transient: it may succeed
 * later); `what` says which request (`s3://bucket/prefix: get cas/ab…`).
 */
export function abortError(signal: AbortSignal, what?: string): BlobStoreError {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error && reason.name === 'TimeoutError' ? 'request timed out' : 'request aborted';
  return new BlobStoreError('transient', what === undefined ? why : `${what}: ${why}`, undefined, { cause: reason });
}

/** Throws {@link abortError} when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted === true) throw abortError(signal, what);
}

/** Resolves after `ms` (never, for Infinity) or rejects with a transient error when aborted. */
export function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(abortError(signal));
      return;
    }
    // Waiting forever holds the event loop open like a stalled socket would (the timers of
    // AbortSignal.timeout do not); only the signal ends it.
    const timer = Number.isFinite(ms) ? setTimeout(done, ms) : setInterval(() => undefined, 1 << 30);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort(): void {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Controllers that follow a signal (see {@link followAbort}), by that signal. */
const followers = new WeakMap<AbortSignal, Set<AbortController>>();

/**
 * Aborts `ctl` (with the same reason) when `signal` fires, until the returned function is
 * called. However many controllers follow one signal, the signal has one listener: a run-wide
 * signal is followed by every request of the run, thousands of them, often hundreds at once.
 * `AbortSignal.any([signal, ctl.signal])` would do the same at ~15 µs of CPU per request, and
 * each composite it makes lives on until garbage collection.
 */
export function followAbort(signal: AbortSignal, ctl: AbortController): () => void {
  if (signal.aborted) {
    ctl.abort(signal.reason);
    return () => undefined;
  }
  let set = followers.get(signal);
  if (set === undefined) {
    const created = new Set<AbortController>();
    followers.set(signal, created);
    signal.addEventListener('abort', () => {
      for (const c of created) c.abort(signal.reason);
      created.clear();
    }, { once: true });
    set = created;
  }
  const mine = set;
  mine.add(ctl);
  return () => void mine.delete(ctl);
}
