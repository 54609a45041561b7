import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Rig, collect, events, statuses, waitFor } from '../helpers/rig.js';

/** True if the process exists and is not a zombie (an orphan may wait to be reaped by init). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('execution', () => {
  let rig: Rig;
  beforeEach(() => (rig = new Rig()));
  afterEach(() => rig.cleanup());

  const failing = `task bad {
  cmd = echo about to fail; exit 3
}

task after_bad {
  cmd = touch after_bad.txt
  outputs = after_bad.txt
  deps = bad
}

task independent {
  cmd = sleep 0.3; touch independent.txt
  outputs = independent.txt
}
`;

  test('a failing task: exit code 1, the real exit code is reported, dependents skipped', async () => {
    rig.write({ 'm.txt': failing });
    const r = await rig.run(['-j', '1', 'm.txt']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[bad\] FAILED: task "bad" failed with exit code 3/);
    assert.match(r.stdout, /about to fail/);
    assert.match(r.stdout, /\[after_bad\] skipped: dependency "bad" failed/);
    assert.equal(rig.exists('after_bad.txt'), false);
  });

  test('without -k nothing new starts after a failure; with -k everything not downstream runs', async () => {
    rig.write({ 'm.txt': failing.replace('sleep 0.3; ', '') });
    // -j 1 and "bad" first in manifest order (equal priority): "independent" never starts.
    const stop = await rig.run(['-j', '1', '--json', 'm.txt']);
    assert.equal(stop.code, 1);
    assert.deepEqual(statuses(stop.stdout), { bad: 'failed', after_bad: 'skipped', independent: 'skipped' });

    const keep = await rig.run(['-j', '1', '-k', '--json', 'm.txt']);
    assert.equal(keep.code, 1);
    assert.deepEqual(statuses(keep.stdout), { bad: 'failed', after_bad: 'skipped', independent: 'executed' });
    assert.equal(rig.exists('independent.txt'), true);
    const failure = events(keep.stdout).find((e) => e.type === 'task-finished' && e.status === 'failed')?.failure;
    assert.deepEqual(failure, { reason: 'exit-non-zero', message: 'task "bad" failed with exit code 3', exitCode: 3 });
  });

  test('a failed task is never cached', async () => {
    rig.write({ 'm.txt': 'task t {\n  cmd = echo x > out.txt; test -f ok\n  outputs = out.txt\n}\n' });
    assert.equal((await rig.run(['m.txt'])).code, 1);
    assert.equal((await rig.run(['m.txt'])).code, 1, 'still fails: nothing was cached');
    rig.write({ ok: '' });
    assert.equal((await rig.run(['m.txt'])).code, 0);
  });

  test('a declared output the command did not produce fails the task', async () => {
    rig.write({ 'm.txt': 'task t {\n  cmd = true\n  outputs = missing.txt\n}\n' });
    const r = await rig.run(['m.txt']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /task "t" did not produce its declared output "missing.txt"/);
  });

  test('a missing input is a clear failure naming the task and the path', async () => {
    rig.write({ 'm.txt': 'task t {\n  cmd = cat nope.txt\n  inputs = nope.txt\n}\n' });
    const r = await rig.run(['m.txt']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /task "t": input "nope.txt" not found/);
  });

  test('timeout: the process group is stopped and the task reported as timed out', async () => {
    rig.write({ 'm.txt': 'task slow {\n  cmd = sleep 30 & echo $! > child.pid; wait\n  timeout = 300ms\n}\n' });
    const started = Date.now();
    const r = await rig.run(['--json', 'm.txt']);
    assert.equal(r.code, 1);
    assert.ok(Date.now() - started < 15_000);
    const fin = events(r.stdout).find((e) => e.type === 'task-finished');
    assert.equal((fin?.failure as { reason: string }).reason, 'timeout');
    const pid = Number(rig.read('child.pid'));
    assert.ok(!isRunning(pid), 'the background child was killed with its group');
  });

  test('retries with backoff: a flaky task succeeds on a later attempt', async () => {
    rig.write({ 'm.txt': 'task flaky {\n  cmd = n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; test $n -ge 2 && echo ok > out.txt\n  outputs = out.txt\n  retries = 3\n}\n' });
    const r = await rig.run(['--json', 'm.txt']);
    assert.equal(r.code, 0, r.stderr);
    const retries = events(r.stdout).filter((e) => e.type === 'task-retry');
    assert.equal(retries.length, 2);
    assert.ok((retries[1]!.delayMs as number) > (retries[0]!.delayMs as number), 'exponential backoff');
  });

  test('cache = false always runs and stores nothing', async () => {
    rig.write({ 'm.txt': 'task t {\n  cmd = date +%N > out.txt\n  outputs = out.txt\n  cache = false\n}\n' });
    assert.equal(statuses((await rig.run(['--json', 'm.txt'])).stdout).t, 'executed');
    assert.equal(statuses((await rig.run(['--json', 'm.txt'])).stdout).t, 'executed');
  });

  test('--force runs cached tasks again', async () => {
    rig.write({ 'm.txt': 'task t {\n  cmd = echo x > out.txt\n  outputs = out.txt\n}\n' });
    await rig.run(['m.txt']);
    const r = await rig.run(['--json', '-f', 'm.txt']);
    assert.equal(statuses(r.stdout).t, 'executed');
    const fin = events(r.stdout).find((e) => e.type === 'task-finished');
    assert.deepEqual(fin?.cache, { result: 'miss', reason: 'forced' });
  });

  test('-j limits concurrency and parallel tasks overlap', async () => {
    const tasks = [1, 2, 3, 4]
      .map((i) => `task t${i} {\n  cmd = echo start >> log; sleep 0.3; echo end >> log\n}\n`)
      .join('\n');
    rig.write({ 'm.txt': tasks });
    await rig.run(['-j', '2', 'm.txt']);
    let running = 0;
    let peak = 0;
    for (const line of rig.read('log').trim().split('\n')) {
      running += line === 'start' ? 1 : -1;
      peak = Math.max(peak, running);
    }
    assert.equal(peak, 2);
  });

  test('--rate spaces out task starts (token bucket)', async () => {
    const tasks = [1, 2, 3, 4].map((i) => `task t${i} {\n  cmd = true\n}\n`).join('\n');
    rig.write({ 'm.txt': tasks });
    const r = await rig.run(['-j', '4', '--rate', '10', '--burst', '1', '--json', 'm.txt']);
    const starts = events(r.stdout)
      .filter((e) => e.type === 'task-started')
      .map((e) => Date.parse(e.time as string));
    assert.equal(starts.length, 4);
    assert.ok(starts[3]! - starts[0]! >= 250, `4 starts at 10/s with burst 1 take >= 300ms, took ${starts[3]! - starts[0]!}`);
  });

  test('live output is grouped per task with --output-mode grouped, prefixed with -j > 1', async () => {
    // "a" is still running while "b" prints and finishes (marker file); grouped mode must still
    // print each task's lines as one block.
    rig.write({
      'm.txt': 'task a {\n  cmd = echo one; while [ ! -f b.done ]; do sleep 0.02; done; echo two\n}\n\ntask b {\n  cmd = echo three; echo four; touch b.done\n}\n',
    });
    const grouped = await rig.run(['-j', '2', '--output-mode', 'grouped', 'm.txt']);
    const lines = grouped.stdout.split('\n').filter((l) => /^\[[ab]\] (one|two|three|four)$/.test(l));
    const blockA = ['[a] one', '[a] two'];
    const blockB = ['[b] three', '[b] four'];
    assert.ok(
      JSON.stringify(lines) === JSON.stringify([...blockB, ...blockA]) || JSON.stringify(lines) === JSON.stringify([...blockA, ...blockB]),
      lines.join('\n'),
    );
    const prefixed = await rig.run(['-j', '2', '-f', 'm.txt']);
    assert.match(prefixed.stdout, /^\[a\] one$/m);
    assert.match(prefixed.stdout, /^\[b\] four$/m);
    const single = await rig.run(['-j', '1', '-f', 'm.txt', 'b']);
    assert.match(single.stdout, /^three$/m, 'with -j 1 live output is printed as is');
  });

  test('a cache hit replays the captured output once; -q keeps it quiet', async () => {
    rig.write({ 'm.txt': 'task t {\n  cmd = echo built it > out.txt; echo from the task\n  outputs = out.txt\n}\n' });
    await rig.run(['m.txt']);
    rig.write({ 'out.txt': 'tampered\n' });
    const r = await rig.run(['m.txt']);
    assert.match(r.stdout, /\[t\] cache hit, replaying output\n\[t\] from the task\n/);
    assert.equal(rig.read('out.txt'), 'built it\n');
    rig.write({ 'out.txt': 'tampered again\n' });
    const q = await rig.run(['-q', 'm.txt']);
    assert.doesNotMatch(q.stdout, /from the task/);
  });

  test('SIGINT stops running tasks, records nothing partial, exits 130; the next run works', async () => {
    rig.write({
      'm.txt': 'task slow {\n  cmd = echo partial > out.txt; touch started; sleep 30; echo done > out.txt\n  outputs = out.txt\n}\n',
    });
    const child = rig.spawn(['m.txt']);
    const done = collect(child);
    await waitFor(() => rig.exists('started'), 20_000, 'task start');
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted/);
    // Nothing cached: the next run executes again (and we let it finish quickly).
    rig.write({ 'm.txt': 'task slow {\n  cmd = echo partial > out.txt; touch started; echo done > out.txt\n  outputs = out.txt\n}\n' });
    const again = await rig.run(['--json', 'm.txt']);
    assert.equal(statuses(again.stdout).slow, 'executed');
  });

  test('a second Ctrl-C kills at once, even a task that ignores SIGTERM', async () => {
    // The ignored SIGTERM is inherited by `sleep`, so only SIGKILL can stop this task.
    rig.write({ 'm.txt': "task stubborn {\n  cmd = trap '' TERM; echo $$ > task.pid; touch started; sleep 30\n}\n" });
    const child = rig.spawn(['--kill-grace', '60s', 'm.txt']);
    const done = collect(child);
    await waitFor(() => rig.exists('started'));
    const t0 = Date.now();
    child.kill('SIGINT');
    let seenFirst = '';
    child.stderr?.on('data', (d: Buffer) => (seenFirst += d.toString()));
    await waitFor(() => seenFirst.includes('stopping running tasks'), 5000, 'the first interrupt to be handled');
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 130);
    assert.ok(Date.now() - t0 < 10_000, 'did not wait for the 60 s grace period');
    assert.match(r.stderr, /reprovm: killed/);
    await waitFor(() => !isRunning(Number(rig.read('task.pid'))), 5000, 'the task to be gone');
  });

  test('SIGTERM exits 143', async () => {
    rig.write({ 'm.txt': 'task slow {\n  cmd = touch started; sleep 30\n}\n' });
    const child = rig.spawn(['m.txt']);
    const done = collect(child);
    await waitFor(() => rig.exists('started'));
    child.kill('SIGTERM');
    assert.equal((await done).code, 143);
  });

  test('the workspace lock: a second run waits, or fails with --no-wait', async () => {
    rig.write({ 'm.txt': 'task slow {\n  cmd = touch started; while [ ! -f release ]; do sleep 0.05; done\n}\n' });
    const first = rig.spawn(['m.txt']);
    const firstDone = collect(first);
    await waitFor(() => rig.exists('started'));
    const busy = await rig.run(['--no-wait', 'm.txt']);
    assert.equal(busy.code, 2);
    assert.match(busy.stderr, /another reprovm run \(pid \d+ on .*\) holds the workspace lock/);
    const second = rig.spawn(['m.txt']);
    const secondDone = collect(second);
    let waitedMessage = '';
    second.stderr?.on('data', (d: Buffer) => (waitedMessage += d.toString()));
    await waitFor(() => waitedMessage.includes('waiting for another run'));
    rig.write({ release: '' });
    assert.equal((await firstDone).code, 0);
    assert.equal((await secondDone).code, 0);
  });

  test('a lock left by a killed run is recovered at once', async () => {
    rig.write({ 'm.txt': 'task slow {\n  cmd = echo $$ > task.pid; touch started; exec sleep 30\n}\n' });
    const child = rig.spawn(['m.txt']);
    const done = collect(child);
    await waitFor(() => rig.exists('started'));
    child.kill('SIGKILL');
    await done;
    // A SIGKILLed reprovm cannot stop its tasks; the test does, so no process outlives it.
    process.kill(-Number(rig.read('task.pid')), 'SIGKILL');
    rig.write({ 'm.txt': 'task quick {\n  cmd = true\n}\n' });
    const started = Date.now();
    const r = await rig.run(['m.txt']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Date.now() - started < 5000, 'did not wait for the staleness timeout');
  });
});
