import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucket, type Clock } from '../../src/exec/token-bucket.js';

/** A clock that advances only when someone sleeps: deterministic timing. */
function fakeClock(): Clock & { sleeps: number[] } {
  let now = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  };
}

test('burst tokens are available at once, then one per 1/rate seconds', async () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(4, 2, clock); // 4/s, burst 2
  await bucket.acquire();
  await bucket.acquire();
  assert.equal(clock.now(), 0, 'the burst costs no time');
  await bucket.acquire();
  assert.equal(clock.now(), 250);
  await bucket.acquire();
  assert.equal(clock.now(), 500);
});

test('idle time refills up to the burst size, never beyond', async () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(10, 3, clock);
  for (let i = 0; i < 3; i++) await bucket.acquire();
  await clock.sleep(10_000); // a long idle period
  const before = clock.now();
  for (let i = 0; i < 3; i++) await bucket.acquire();
  assert.equal(clock.now(), before, 'three tokens were banked');
  await bucket.acquire();
  assert.equal(clock.now(), before + 100, 'but not a fourth');
});

test('concurrent acquirers are served in order and each gets exactly one token', async () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(2, 1, clock);
  const order: number[] = [];
  await Promise.all([0, 1, 2, 3].map((i) => bucket.acquire().then(() => order.push(i))));
  assert.deepEqual(order, [0, 1, 2, 3]);
  assert.equal(clock.now(), 1500, '1 burst token + 3 × 500 ms');
});

test('an aborted wait takes no token', async () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(1, 1, clock);
  await bucket.acquire();
  const ac = new AbortController();
  ac.abort();
  await bucket.acquire(ac.signal);
  assert.equal(clock.now(), 0);
});

test('rate Infinity never waits; invalid settings are rejected', async () => {
  const bucket = new TokenBucket(Infinity, 1);
  for (let i = 0; i < 1000; i++) await bucket.acquire();
  assert.throws(() => new TokenBucket(0, 1), /rate must be > 0/);
  assert.throws(() => new TokenBucket(1, 0), /burst must be >= 1/);
});
