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
