import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Rig, events, statuses } from '../helpers/rig.js';

interface Finding {
  readonly task: string;
  readonly message: string;
  readonly kind: string;
  readonly path: string;
}

/** The `--strict` findings of a `--json` run. */
function findings(stdout: string): Finding[] {
  return events(stdout)
    .filter((e) => e.type === 'warning' && e.hermeticity !== undefined)
    .map((e) => {
      const h = e.hermeticity as { kind: string; path: string };
      return { task: e.task as string, message: e.message as string, kind: h.kind, path: h.path };
    });
}

const task = (name: string, cmd: string, extra = ''): string => `task ${name} {\n  cmd = ${cmd}\n${extra}}\n`;

describe('run --strict (hermeticity check)', () => {
  let rig: Rig;
  beforeEach(() => (rig = new Rig()));
  afterEach(() => rig.cleanup());

  const stray = task('t', 'echo a > out.txt; echo junk > stray.txt', '  outputs = out.txt\n');

  test('an undeclared write is a warning naming the task and the path; the run still succeeds', async () => {
    rig.write({ 'm.txt': stray });
    const r = await rig.run(['--strict', '--json', 'm.txt']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(findings(r.stdout), [
      { task: 't', message: 'task "t" wrote "stray.txt" which is not a declared output', kind: 'undeclared-write', path: 'stray.txt' },
    ]);
    assert.deepEqual(statuses(r.stdout), { t: 'executed' });

    rig.write({ 'stray.txt': '' });
    const plain = await rig.run(['--strict=warn', '-f', 'm.txt']);
    assert.equal(plain.code, 0);
    assert.match(plain.stderr, /reprovm: warning: task "t" wrote "stray.txt" which is not a declared output/);
  });

  test('--strict=error fails the task (reason hermeticity) and does not cache it', async () => {
    rig.write({ 'm.txt': stray });
    const r = await rig.run(['--strict=error', '--json', 'm.txt']);
    assert.equal(r.code, 1);
    const finished = events(r.stdout).find((e) => e.type === 'task-finished');
    assert.equal(finished?.status, 'failed');
    assert.deepEqual(finished?.failure, { reason: 'hermeticity', message: 'task "t" wrote "stray.txt" which is not a declared output' });

    const again = await rig.run(['--json', 'm.txt']);
    assert.equal(again.code, 0);
    assert.deepEqual(statuses(again.stdout), { t: 'executed' }, 'nothing was cached by the failed run');
  });

  test('modifying a file that is not declared is reported, and so is creating a directory (once)', async () => {
    rig.write({ 'm.txt': task('t', 'echo more >> notes.txt; mkdir -p tmp/a/b; touch tmp/a/b/f; touch out', '  outputs = out\n'), 'notes.txt': 'x\n' });
    const r = await rig.run(['--strict', '--json', 'm.txt']);
    assert.deepEqual(
      findings(r.stdout).map((f) => [f.kind, f.path]),
      [
        ['undeclared-write', 'notes.txt'],
        ['undeclared-write', 'tmp'],
      ],
    );
  });

  test('deleting an undeclared file is reported', async () => {
    rig.write({ 'm.txt': task('t', 'rm old.txt; touch out.txt', '  outputs = out.txt\n'), 'old.txt': 'x' });
    const r = await rig.run(['--strict', '--json', 'm.txt']);
    assert.equal(r.code, 0);
    assert.deepEqual(findings(r.stdout), [
      { task: 't', message: 'task "t" deleted "old.txt" which is not a declared output', kind: 'undeclared-delete', path: 'old.txt' },
    ]);
  });

  test('an output that is also an input is reported', async () => {
    rig.write({
      'm.txt': task('t', 'echo y > data.txt', '  inputs = data.txt\n  outputs = data.txt\n') + task('d', 'touch src/gen.txt', '  inputs = src\n  outputs = src/gen.txt\n'),
      'data.txt': 'x\n',
      'src/a.txt': 'a\n',
    });
    const r = await rig.run(['--strict', '--json', '-j', '1', 'm.txt']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(findings(r.stdout), [
      { task: 't', message: 'task "t" modifies its own input "data.txt"', kind: 'output-is-input', path: 'data.txt' },
      { task: 'd', message: 'task "d" modifies its own input "src/gen.txt"', kind: 'output-is-input', path: 'src/gen.txt' },
    ]);
  });

  test('a clean task reports nothing; without --strict nothing is reported', async () => {
    rig.write({ 'm.txt': task('clean', 'tr a-z A-Z < in.txt > out/up.txt', '  inputs = in.txt\n  outputs = out/up.txt\n'), 'in.txt': 'abc\n' });
    const clean = await rig.run(['--strict=error', '--json', 'm.txt']);
    assert.equal(clean.code, 0, clean.stdout);
    assert.deepEqual(findings(clean.stdout), []);

    rig.write({ 'm.txt': stray });
    const off = await rig.run(['--json', 'm.txt']);
    assert.equal(off.code, 0);
    assert.deepEqual(
      events(off.stdout).filter((e) => e.type === 'warning'),
      [],
    );
  });

  test('writes inside a declared output directory are fine; files under .reprovm are ignored', async () => {
    rig.write({
      'm.txt': task('t', 'mkdir -p build/sub && echo a > build/sub/a.o && echo b > build/b.o && echo c > .reprovm/scratch && rm .reprovm/old', '  outputs = build\n'),
      '.reprovm/old': 'x',
    });
    const r = await rig.run(['--strict=error', '--json', 'm.txt']);
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(findings(r.stdout), []);
    assert.equal(rig.read('build/sub/a.o'), 'a\n');
  });

  test('with -j > 1, a path another running task declares is not blamed on this one, and concurrent tasks are named', async () => {
    // a writes b's declared output and an undeclared file while b runs; neither is b's doing.
    const m =
      task('a', 'touch a.out; sleep 0.3; echo junk > shared.tmp', '  outputs = a.out\n') +
      task('b', 'sleep 0.6; echo b > b.out', '  outputs = b.out\n');
    rig.write({ 'm.txt': m });
    const r = await rig.run(['--strict', '--json', '-j', '2', 'm.txt']);
    assert.equal(r.code, 0, r.stderr);
    const found = findings(r.stdout);
    assert.ok(found.some((f) => f.task === 'a' && f.path === 'shared.tmp' && f.message.endsWith('(while "b" also ran)')), JSON.stringify(found));
    assert.ok(found.every((f) => f.path === 'shared.tmp'), JSON.stringify(found));
  });

  test('a bare --strict before the manifest does not swallow it; an unknown mode is a usage error', async () => {
    rig.write({ 'm.txt': stray });
    assert.equal((await rig.run(['run', '--strict', 'm.txt'])).code, 0);
    assert.equal((await rig.run(['--strict=loud', 'm.txt'])).code, 2);
  });
});
