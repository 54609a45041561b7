import { setMaxListeners } from 'node:events';

/**
 * Walks a DAG: a node starts once all its dependencies succeeded. The node callback decides
 * what "run" means (cache check, restore, execute); this module only knows order, failure
 * policy and cancellation. Dependents of a failed node are skipped; without keep-going the
 * first failure also stops everything that has not started (`stopSignal` aborts so nodes
 * waiting for an execution slot give up).
 */
/** `cancelled`: the node gave up before doing anything (stop requested while it waited). */
export type NodeOutcome = 'ok' | 'failed' | 'cancelled';

export interface ScheduleOptions {
  readonly keepGoing: boolean;
  /** Aborted when the whole run is interrupted (Ctrl-C). */
  readonly interrupt: AbortSignal;
  /** How many nodes may be in their callback at once (cache checks are cheap; `-j` is enforced by the callback). */
  readonly maxInFlight: number;
  readonly priority: ReadonlyMap<string, number>;
}

export interface ScheduleCallbacks {
  run(name: string, stopSignal: AbortSignal): Promise<NodeOutcome>;
  skip(name: string, because: string): void;
}

export interface ScheduleResult {
  readonly failed: readonly string[];
  readonly skipped: readonly string[];
  readonly cancelled: readonly string[];
}

export async function runGraph(
  order: readonly string[],
  depsOf: (name: string) => readonly string[],
  opts: ScheduleOptions,
  cb: ScheduleCallbacks,
): Promise<ScheduleResult> {
  const selected = new Set(order);
  const waitingOn = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const name of order) {
    const deps = depsOf(name).filter((d) => selected.has(d));
    waitingOn.set(name, deps.length);
    for (const d of deps) {
      let list = dependents.get(d);
      if (!list) dependents.set(d, (list = []));
      list.push(name);
    }
  }
  const stop = new AbortController();
  // Every task waiting for a slot listens on this signal; thousands of listeners are expected.
  setMaxListeners(0, stop.signal);
  const onInterrupt = (): void => stop.abort();
  opts.interrupt.addEventListener('abort', onInterrupt, { once: true });
  if (opts.interrupt.aborted) stop.abort();

  const failed: string[] = [];
  const skipped: string[] = [];
  const cancelled: string[] = [];
  const done = new Set<string>();
  const ready: string[] = order.filter((n) => waitingOn.get(n) === 0);
  let inFlight = 0;
  let firstFailure: string | undefined;

  const prio = (n: string): number => opts.priority.get(n) ?? 0;
  // Highest priority first; the array is re-sorted lazily when new nodes become ready.
  let readySorted = false;

  const skipDownstream = (name: string, because: string): void => {
    const stack = [...(dependents.get(name) ?? [])];
    while (stack.length > 0) {
      const d = stack.pop()!;
      if (done.has(d)) continue;
      done.add(d);
      skipped.push(d);
      cb.skip(d, because);
      stack.push(...(dependents.get(d) ?? []));
    }
  };

  await new Promise<void>((resolveAll) => {
    const pump = (): void => {
      if (stop.signal.aborted) {
        // Nothing new starts; what never started is reported as skipped.
        for (const n of ready.splice(0)) {
          if (done.has(n)) continue;
          done.add(n);
          skipped.push(n);
          cb.skip(n, firstFailure ?? 'interrupted');
          skipDownstream(n, firstFailure ?? 'interrupted');
        }
      }
      if (!readySorted) {
        ready.sort((a, b) => prio(b) - prio(a));
        readySorted = true;
      }
      while (inFlight < opts.maxInFlight && ready.length > 0 && !stop.signal.aborted) {
        const name = ready.shift()!;
        if (done.has(name)) continue;
        inFlight += 1;
        cb.run(name, stop.signal).then(
          (outcome) => settle(name, outcome),
          () => settle(name, 'failed'),
        );
      }
      if (inFlight === 0 && (ready.length === 0 || stop.signal.aborted)) {
        // Anything never reached (all its paths were cut) is already in `skipped`.
        resolveAll();
      }
    };
    const settle = (name: string, outcome: NodeOutcome): void => {
      inFlight -= 1;
      done.add(name);
      if (outcome === 'ok') {
        for (const d of dependents.get(name) ?? []) {
          const left = (waitingOn.get(d) ?? 0) - 1;
          waitingOn.set(d, left);
          if (left === 0 && !done.has(d)) {
            ready.push(d);
            readySorted = false;
          }
        }
      } else if (outcome === 'cancelled') {
        // It never started its command: report it as skipped, like everything downstream.
        cancelled.push(name);
        skipped.push(name);
        cb.skip(name, firstFailure ?? 'interrupted');
        skipDownstream(name, firstFailure ?? 'interrupted');
      } else {
        failed.push(name);
        firstFailure ??= name;
        skipDownstream(name, name);
        if (!opts.keepGoing) stop.abort();
      }
      pump();
    };
    pump();
  });
  opts.interrupt.removeEventListener('abort', onInterrupt);
  // Nodes that never became ready because a dependency was skipped are covered by skipDownstream;
  // report any stragglers (should not happen) as skipped so totals always add up.
  for (const n of order) {
    if (!done.has(n)) {
      done.add(n);
      skipped.push(n);
      cb.skip(n, firstFailure ?? 'interrupted');
    }
  }
  return { failed, skipped, cancelled };
}
