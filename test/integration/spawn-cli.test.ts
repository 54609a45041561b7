import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { loadNativeSpawn } from '../../src/exec/spawn-native.js';
import { collect, rigsRemovedAfter, waitFor } from '../helpers/rig.js';

/*
 * The CLI with each spawner (REPROVM_SPAWNER), in quiet mode: that is where commands write to
 * capture files and the native spawner starts them. The same behaviour is expected from both.
 */

const newRig = rigsRemovedAfter('reprovm-spawn-cli-');
const nativeBuilt = loadNativeSpawn();

/** Gone, or a zombie waiting for its reaper. */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

for (const kind of ['node', 'native'] as const) {
  const skip = kind === 'native' && !nativeBuilt.ok ? nativeBuilt.reason : undefined;
  describe(`reprovm -q with REPROVM_SPAWNER=${kind}`, { skip }, () => {
    const env = { REPROVM_SPAWNER: kind };

    test('builds many tasks; a failure shows its output and exits 1', async () => {
      const rig = newRig();
      let m = '';
      for (let i = 0; i < 30; i++) m += `task t${i} {\n  cmd = echo "n=${i} v=$V" > out/o${i}.txt\n  outputs = out/o${i}.txt\n  env = V\n}\n`;
      m += 'task bad {\n  cmd = echo to-stderr >&2; exit 3\n}\n';
      rig.write({ 'm.txt': m });
      const r = await rig.run(['-q', '-k', '-j', '8', 'm.txt'], { env: { ...env, V: 'x y' } });
      assert.equal(r.code, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /warning/);
      for (let i = 0; i < 30; i++) assert.equal(rig.read(`out/o${i}.txt`), `n=${i} v=x y\n`);
      assert.match(r.stdout + r.stderr, /task "bad" failed with exit code 3/);
      assert.match(r.stdout + r.stderr, /to-stderr/);
    });

    test('a timeout kills the task and fails it', async () => {
      const rig = newRig();
      rig.write({ 'm.txt': 'task slow {\n  cmd = sleep 30\n  timeout = 200ms\n}\n' });
      const t0 = Date.now();
      const r = await rig.run(['-q', 'm.txt'], { env });
      assert.equal(r.code, 1);
      assert.match(r.stdout + r.stderr, /task "slow" timed out after 0\.2s/);
      assert.ok(Date.now() - t0 < 10_000);
    });

    test('SIGINT stops the running task and exits 130; a second one kills at once', async () => {
      const rig = newRig();
      rig.write({ 'm.txt': "task stubborn {\n  cmd = trap '' TERM; echo $$ > task.pid; sleep 30\n}\n" });
      const child = rig.spawn(['-q', '--kill-grace', '60s', 'm.txt'], { env });
      const done = collect(child);
      await waitFor(() => rig.exists('task.pid') && rig.read('task.pid').endsWith('\n'), 20_000, 'the task to start');
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.kill('SIGINT');
      await waitFor(() => stderr.includes('stopping running tasks'), 5000, 'the first interrupt');
      child.kill('SIGINT');
      const r = await done;
      assert.equal(r.code, 130);
      await waitFor(() => gone(Number(rig.read('task.pid'))), 5000, 'the task to be gone');
    });
  });
}

describe('REPROVM_SPAWNER', () => {
  test('an unknown value is one warning line, and the run still works', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': 'task t {\n  cmd = echo ok > out.txt\n  outputs = out.txt\n}\n' });
    const r = await rig.run(['-q', 'm.txt'], { env: { REPROVM_SPAWNER: 'vfork' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^reprovm: warning: REPROVM_SPAWNER: unknown value "vfork" \(use node, native or auto\); using (native|node)\n/);
    assert.equal(rig.read('out.txt'), 'ok\n');
  });
});
