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
