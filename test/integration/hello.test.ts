import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { HELLO_C, HELLO_MANIFEST, Rig, events, statuses } from '../helpers/rig.js';

// The scenarios of the original ReproVM README, on the real CLI.
describe('hello-world pipeline', () => {
  let rig: Rig;
  beforeEach(() => {
    rig = new Rig();
    rig.write({ 'manifest.txt': HELLO_MANIFEST, 'hello.c': HELLO_C });
  });
  afterEach(() => rig.cleanup());

  test('cold run executes everything, warm run executes nothing, an edit re-runs the chain', async () => {
    const cold = await rig.run(['-j', '4', '--json', 'manifest.txt']);
    assert.equal(cold.code, 0, cold.stderr);
    assert.deepEqual(statuses(cold.stdout), { build: 'executed', test: 'executed', checksum: 'executed' });
    assert.equal(rig.read('test_output.txt'), 'hello\n');
    const sums = rig.read('checksums.txt');
    assert.match(sums, /[0-9a-f]{64} {2}hello\n[0-9a-f]{64} {2}test_output.txt\n/);

    const warm = await rig.run(['-j', '4', '--json', 'manifest.txt']);
    assert.equal(warm.code, 0, warm.stderr);
    assert.deepEqual(statuses(warm.stdout), { build: 'cached', test: 'cached', checksum: 'cached' });
    const finished = events(warm.stdout).filter((e) => e.type === 'task-finished');
    for (const e of finished) assert.deepEqual((e.cache as { upToDate: boolean }).upToDate, true);

    rig.write({ 'hello.c': HELLO_C.replace('hello\\n', 'hello, world\\n') });
    const edited = await rig.run(['-j', '4', '--json', 'manifest.txt']);
    assert.equal(edited.code, 0, edited.stderr);
    assert.deepEqual(statuses(edited.stdout), { build: 'executed', test: 'executed', checksum: 'executed' });
    assert.equal(rig.read('test_output.txt'), 'hello, world\n');
  });

  test('deleted outputs are restored from the CAS and the restored executable still runs', async () => {
    assert.equal((await rig.run(['manifest.txt'])).code, 0);
    const before = rig.read('checksums.txt');
    for (const f of ['hello', 'test_output.txt', 'checksums.txt']) rmSync(rig.path(f));
    const r = await rig.run(['--json', 'manifest.txt']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(statuses(r.stdout), { build: 'cached', test: 'cached', checksum: 'cached' });
    assert.equal(rig.read('checksums.txt'), before);
    assert.ok((statSync(rig.path('hello')).mode & 0o111) !== 0, 'hello is executable again');
    assert.equal(execFileSync(rig.path('hello')).toString(), 'hello\n');
  });

  test('reverting an edit restores the earlier result instead of running', async () => {
    assert.equal((await rig.run(['manifest.txt'])).code, 0);
    rig.write({ 'hello.c': HELLO_C.replace('hello\\n', 'bye\\n') });
    assert.equal((await rig.run(['manifest.txt'])).code, 0);
    rig.write({ 'hello.c': HELLO_C });
    const r = await rig.run(['--json', 'manifest.txt']);
    assert.deepEqual(statuses(r.stdout), { build: 'cached', test: 'cached', checksum: 'cached' });
    assert.equal(rig.read('test_output.txt'), 'hello\n');
  });

  test('plain output (not a TTY) has one line per event, no ANSI codes and no carriage returns', async () => {
    const r = await rig.run(['-j', '2', 'manifest.txt'], { env: { NO_COLOR: '' } });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /\x1b|\r/);
    assert.match(r.stdout, /^\[build\] started$/m);
    assert.match(r.stdout, /^\[build\] done in \d+\.\d+s$/m);
    assert.match(r.stdout, /^reprovm: ok: 3 tasks: 3 executed, 0 restored from cache, 0 up to date, 0 failed, 0 skipped in /m);
    const warm = await rig.run(['manifest.txt']);
    assert.match(warm.stdout, /^reprovm: ok: 3 tasks: 0 executed, 0 restored from cache, 3 up to date, 0 failed, 0 skipped in .* \(cache saved /m);
  });

  test('the modification of a file with the same size and mtime is still seen (racy memo guard)', async () => {
    assert.equal((await rig.run(['manifest.txt'])).code, 0);
    const st = statSync(rig.path('hello.c'));
    writeFileSync(rig.path('hello.c'), HELLO_C.replace('hello', 'HELLO'));
    // Same size, same mtime: only the ctime/inode part of the memo or a re-hash can notice.
    const { utimesSync } = await import('node:fs');
    utimesSync(rig.path('hello.c'), st.atime, st.mtime);
    const r = await rig.run(['--json', 'manifest.txt']);
    assert.equal(statuses(r.stdout).build, 'executed');
    assert.equal(rig.read('test_output.txt'), 'HELLO\n');
  });
});
