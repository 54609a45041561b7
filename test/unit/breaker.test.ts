import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CircuitBreaker } from '../../src/cache/breaker.js';

function fakeClock(): { now(): number; advance(ms: number): void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

test('opens after threshold consecutive failures and refuses calls during the cooldown', () => {
  const clock = fakeClock();
  const b = new CircuitBreaker({ threshold: 3, cooldownMs: 60_000, clock });
  assert.equal(b.failure(), false);
  assert.equal(b.failure(), false);
  assert.equal(b.allow(), true);
  assert.equal(b.failure(), true, 'the third consecutive failure opens it');
  assert.equal(b.state, 'open');
  assert.equal(b.timesOpened, 1);
  for (let i = 0; i < 10; i++) assert.equal(b.allow(), false);
  clock.advance(59_999);
  assert.equal(b.allow(), false);
});

test('a success in between resets the count', () => {
  const b = new CircuitBreaker({ threshold: 2, cooldownMs: 1000, clock: fakeClock() });
  b.failure();
  b.success();
  assert.equal(b.failure(), false);
  assert.equal(b.state, 'closed');
});

test('half-open after the cooldown: one probe; success closes, failure reopens', () => {
  const clock = fakeClock();
  const b = new CircuitBreaker({ threshold: 1, cooldownMs: 100, clock });
  assert.equal(b.failure(), true);
  clock.advance(100);
  assert.equal(b.state, 'half-open');
  assert.equal(b.allow(), true, 'one probe');
  assert.equal(b.allow(), false, 'only one probe at a time');
  assert.equal(b.failure(), true, 'the probe failed: open again');
  assert.equal(b.timesOpened, 2);
  assert.equal(b.allow(), false);
  clock.advance(100);
  assert.equal(b.allow(), true);
  b.success();
  assert.equal(b.state, 'closed');
  assert.equal(b.allow(), true);
  assert.equal(b.allow(), true);
});
