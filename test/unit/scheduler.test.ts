import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { PrioritySlots } from '../../src/exec/priority-slots.js';
import { runGraph, type NodeOutcome } from '../../src/exec/scheduler.js';
import { waitingOn } from '../../src/util/abort-fanout.js';

const deps: Record<string, string[]> = { a: [], b: ['a'], c: ['a'], d: ['b', 'c'], e: [] };
const order = ['a', 'b', 'c', 'e', 'd'];

async function run(
  outcome: (n: string) => NodeOutcome,
  opts: { keepGoing?: boolean; maxInFlight?: number; priority?: Map<string, number> } = {},
) {
  const started: string[] = [];
  const skippedCalls: [string, string][] = [];
  const result = await runGraph(
    order,
    (n) => deps[n] ?? [],
    {
      keepGoing: opts.keepGoing ?? false,
      interrupt: new AbortController().signal,
      maxInFlight: opts.maxInFlight ?? 1,
      priority: opts.priority ?? new Map(),
    },
    {
      run: async (n) => {
        started.push(n);
        await Promise.resolve();
        return outcome(n);
      },
      skip: (n, because) => skippedCalls.push([n, because]),
    },
  );
  return { started, skippedCalls, result };
}

test('dependencies always run first; priority orders the ready queue', async () => {
  const { started } = await run(() => 'ok', { priority: new Map([['e', 10], ['a', 5], ['c', 3], ['b', 1]]) });
  assert.deepEqual(started, ['e', 'a', 'c', 'b', 'd']);
});

test('a failure skips its dependents and, without keep-going, everything not started', async () => {
  const { started, skippedCalls, result } = await run((n) => (n === 'a' ? 'failed' : 'ok'));
  assert.deepEqual(started, ['a']);
  assert.deepEqual(result.failed, ['a']);
  assert.deepEqual(new Set(result.skipped), new Set(['b', 'c', 'd', 'e']));
  assert.ok(skippedCalls.every(([, because]) => because === 'a'));
});

test('keep-going runs everything not downstream of the failure', async () => {
  const { started, result } = await run((n) => (n === 'b' ? 'failed' : 'ok'), { keepGoing: true });
  assert.deepEqual(new Set(started), new Set(['a', 'b', 'c', 'e']));
  assert.deepEqual(result.skipped, ['d']);
});

test('a cancelled node counts as skipped with its dependents', async () => {
  const { result, skippedCalls } = await run((n) => (n === 'c' ? 'cancelled' : 'ok'), { keepGoing: true });
  assert.deepEqual(result.cancelled, ['c']);
  assert.deepEqual(new Set(result.skipped), new Set(['c', 'd']));
  assert.equal(skippedCalls.length, 2);
});

test('maxInFlight bounds concurrent callbacks', async () => {
  let inFlight = 0;
  let peak = 0;
  const names = Array.from({ length: 20 }, (_, i) => `n${i}`);
  await runGraph(names, () => [], { keepGoing: false, interrupt: new AbortController().signal, maxInFlight: 3, priority: new Map() }, {
    run: async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      return 'ok';
    },
    skip: () => undefined,
  });
  assert.equal(peak, 3);
});

test('priority slots: highest priority waiter first, abort leaves the queue', async () => {
  const slots = new PrioritySlots(1);
  const release = await slots.acquire(0);
  assert.ok(release);
  const got: string[] = [];
  const ac = new AbortController();
  const low = slots.acquire(1).then((r) => (got.push('low'), r));
  const high = slots.acquire(9).then((r) => (got.push('high'), r));
  const aborted = slots.acquire(100, ac.signal);
  ac.abort();
  assert.equal(await aborted, null);
  release();
  (await high)?.();
  (await low)?.();
  assert.deepEqual(got, ['high', 'low']);
});

test('priority slots: waiters share one abort listener, and a granted waiter leaves nothing behind', async () => {
  const listeners = (sig: AbortSignal): number => EventEmitter.getEventListeners(sig, 'abort').length;
  const slots = new PrioritySlots(1);
  const ac = new AbortController();
  const first = await slots.acquire(0, ac.signal);
  const waiting = Array.from({ length: 5 }, () => slots.acquire(0, ac.signal));
  assert.equal(listeners(ac.signal), 1);
  assert.equal(waitingOn(ac.signal), 5);
  first?.();
  for (const w of waiting) (await w)?.();
  assert.equal(waitingOn(ac.signal), 0);
});
