import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { followAbort, onAbort, waitingOn } from '../../src/util/abort-fanout.js';

test('a follower is aborted with the signal\'s reason; one listener on the signal however many follow it', () => {
  const run = new AbortController();
  const followers = Array.from({ length: 50 }, () => new AbortController());
  for (const c of followers) followAbort(run.signal, c);
  assert.equal(getEventListeners(run.signal, 'abort').length, 1);
  const reason = new Error('interrupted');
  run.abort(reason);
  for (const c of followers) {
    assert.equal(c.signal.aborted, true);
    assert.equal(c.signal.reason, reason);
  }
});

test('a follower that stopped following is not aborted', async () => {
  const run = new AbortController();
  const kept = new AbortController();
  const left = new AbortController();
  followAbort(run.signal, kept);
  const unfollow = followAbort(run.signal, left);
  unfollow();
  unfollow(); // twice is harmless
  assert.equal(waitingOn(run.signal), 1, 'only the one still following is kept');
  run.abort();
  assert.equal(kept.signal.aborted, true);
  assert.equal(left.signal.aborted, false);
});

test('following a signal that already fired aborts at once', () => {
  const run = new AbortController();
  run.abort('gone');
  const c = new AbortController();
  followAbort(run.signal, c);
  assert.equal(c.signal.aborted, true);
  assert.equal(c.signal.reason, 'gone');
  assert.equal(getEventListeners(run.signal, 'abort').length, 0);
});

test('a follower aborted on its own does not abort the signal or the other followers', () => {
  const run = new AbortController();
  const a = new AbortController();
  const b = new AbortController();
  followAbort(run.signal, a);
  followAbort(run.signal, b);
  a.abort();
  assert.equal(run.signal.aborted, false);
  assert.equal(b.signal.aborted, false);
});

test('callbacks run once, in the order they were registered; one function registered twice runs twice', () => {
  const run = new AbortController();
  const calls: string[] = [];
  const twice = (): void => void calls.push('twice');
  onAbort(run.signal, () => calls.push('first'));
  onAbort(run.signal, twice);
  const off = onAbort(run.signal, () => calls.push('removed'));
  onAbort(run.signal, twice);
  off();
  run.abort();
  run.abort();
  assert.deepEqual(calls, ['first', 'twice', 'twice']);
  assert.equal(waitingOn(run.signal), 0);
  onAbort(run.signal, () => calls.push('late'));
  assert.deepEqual(calls.at(-1), 'late', 'registered after the signal fired: called at once');
});

test('a callback that throws does not keep the others from running; its error is reported as uncaught', () => {
  // In a process of its own: the test runner takes over uncaught exceptions.
  const moduleUrl = new URL('../../src/util/abort-fanout.ts', import.meta.url).href;
  const code = `
    import { onAbort } from ${JSON.stringify(moduleUrl)};
    const run = new AbortController();
    onAbort(run.signal, () => { throw new Error('boom'); });
    onAbort(run.signal, () => console.log('second ran'));
    run.abort();
  `;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' });
  assert.match(child.stdout, /second ran/);
  assert.match(child.stderr, /Error: boom/);
  assert.notEqual(child.status, 0);
});
