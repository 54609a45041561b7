/**
 * Many short-lived waiters on one long-lived AbortSignal (the run's interrupt, the remote tier's
 * outage signal) without one listener each. Node's EventTarget keeps listeners in a list that
 * `addEventListener` and `removeEventListener` walk, so a thousand tasks waiting on the run's
 * signal cost a thousand walks of a thousand entries; and `AbortSignal.any([signal, own])` per
 * request costs ~15 µs of CPU and leaves a composite signal behind for the garbage collector.
 * Here a signal gets one listener, which calls the callbacks registered at the time it fires.
 */

/** Callbacks waiting for a signal, by signal. */
const waiting = new WeakMap<AbortSignal, Set<() => void>>();

const nothing = (): void => undefined;

/**
 * Calls `callback` once when `signal` fires (at once if it has), unless the returned function
 * was called first. Callbacks run in the order they were registered.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  if (signal.aborted) {
    callback();
    return nothing;
  }
  let set = waiting.get(signal);
  if (set === undefined) {
    const created = new Set<() => void>();
    waiting.set(signal, created);
    signal.addEventListener('abort', () => {
      const callbacks = [...created];
      created.clear();
      for (const c of callbacks) {
        try {
          c();
        } catch (error: unknown) {
          // As an EventTarget does with a listener that throws: the others still run, and the
          // error is reported as uncaught, a turn later.
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    }, { once: true });
    set = created;
  }
  const mine = set;
  // A wrapper of its own, so that one function registered twice is two registrations.
  const entry = (): void => callback();
  mine.add(entry);
  return () => void mine.delete(entry);
}

/** Aborts `ctl` with `signal`'s reason when `signal` fires, until the returned function is called. */
export function followAbort(signal: AbortSignal, ctl: AbortController): () => void {
  return onAbort(signal, () => ctl.abort(signal.reason));
}

/** How many callbacks wait for `signal` now (for tests: nothing should be left behind). */
export function waitingOn(signal: AbortSignal): number {
  return waiting.get(signal)?.size ?? 0;
}
