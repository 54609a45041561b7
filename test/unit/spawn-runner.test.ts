import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ProcessGroups, runCommand, type ProcessResult, type RunCommandOptions } from '../../src/exec/process-runner.js';
import { loadNativeSpawn } from '../../src/exec/spawn-native.js';
import { NODE_SPAWNER, type Spawner } from '../../src/exec/spawn-select.js';

/*
 * The same behaviour, command by command, through both spawners: child_process and the
 * posix_spawn addon. The native suite is skipped (saying why) only when the addon is not built.
 */

const native = loadNativeSpawn();
const spawners: { name: string; spawner?: Spawner; skip?: string }[] = [
  { name: 'node', spawner: NODE_SPAWNER },
  native.ok ? { name: 'native', spawner: { kind: 'native', addon: native.addon } } : { name: 'native', skip: native.reason },
];

const ENV = { PATH: '/usr/bin:/bin', LANG: 'C' };

/** A process counts as gone when it no longer exists or is a zombie waiting for its reaper. */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitGone(pid: number, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (gone(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return gone(pid);
}

for (const { name, spawner, skip } of spawners) for (const mode of ['files', 'pipes'] as const) {
  describe(`runCommand with the ${name} spawner, output to ${mode}`, { skip }, () => {
    let dir: string;
    let captureDir: string;
    before(() => {
      dir = realpathSync(mkdtempSync(path.join(tmpdir(), `reprovm-spawn-${name}-`)));
      captureDir = path.join(dir, '.capture');
      mkdirSync(captureDir);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    const groups = (): ProcessGroups => new ProcessGroups(spawner);
    // Pipes mode: output read live, line by line (what the reporters show while a task runs).
    const lines: string[] = [];
    const onLine = mode === 'pipes' ? (s: 'stdout' | 'stderr', l: string): number => lines.push(`${s}:${l}`) : undefined;
    const run = (cmd: string, over: Partial<RunCommandOptions> = {}, g = groups()): Promise<ProcessResult> =>
      runCommand({ cmd, cwd: dir, env: ENV, captureDir, killGraceMs: 300, onLine, ...over }, g);

    test('reports which spawner started the command', async () => {
      const r = await run('true');
      assert.equal(r.spawnedBy, name);
    });

    test('exit codes: 0 and non-zero', async () => {
      assert.equal((await run('exit 0')).exitCode, 0);
      const r = await run('exit 3');
      assert.equal(r.exitCode, 3);
      assert.equal(r.signal, null);
      assert.equal(r.spawnError, undefined);
    });

    test('captures stdout and stderr, separately (and line by line when read live)', async () => {
      lines.length = 0;
      const r = await run('printf "out line\\n"; printf "err line\\n" >&2; printf tail');
      assert.equal(r.stdout.toString(), 'out line\ntail');
      assert.equal(r.stderr.toString(), 'err line\n');
      assert.equal(r.truncated, false);
      if (mode === 'pipes') assert.deepEqual(lines.sort(), ['stderr:err line', 'stdout:out line', 'stdout:tail']);
    });

    test('output of a background child that outlives the command is not waited for forever', async () => {
      const t0 = performance.now();
      const r = await run('(sleep 30; echo late) & echo early');
      assert.equal(r.exitCode, 0);
      assert.equal(r.stdout.toString(), 'early\n');
      assert.ok(performance.now() - t0 < 10_000);
    });

    test('keeps the head of output beyond the capture limit', async () => {
      const r = await run('head -c 5000 /dev/zero | tr "\\0" a', { maxCaptureBytes: 1000 });
      assert.equal(r.stdout.length, 1000);
      assert.equal(r.truncated, true);
    });

    test('the command sees exactly the environment it is given', async () => {
      const r = await run('echo "FOO=$FOO"; echo "HOME=${HOME-unset}"', { env: { ...ENV, FOO: 'bar baz' } });
      assert.equal(r.stdout.toString(), 'FOO=bar baz\nHOME=unset\n');
    });

    test('runs in the given working directory, stdin is empty', async () => {
      const r = await run('pwd; cat; echo done');
      assert.equal(r.stdout.toString(), `${dir}\ndone\n`);
    });

    test('runs in a new session and process group, with no blocked or ignored signals', async () => {
      // The mask is read by the exec'd command itself: the shell blocks every signal for a
      // moment around each fork, so reading /proc/$$/status from a child could catch that.
      const r = await run('awk \'{print $1, $5, $6}\' /proc/$$/stat; exec grep -E "^Sig(Blk|Ign)" /proc/self/status');
      const [ids, blk, ign] = r.stdout.toString().trim().split('\n');
      const [pid, pgrp, sid] = (ids ?? '').split(' ');
      assert.equal(pgrp, pid, 'process group leader');
      assert.equal(sid, pid, 'session leader');
      assert.match(blk ?? '', /SigBlk:\s+0+$/);
      assert.match(ign ?? '', /SigIgn:\s+0+$/, 'SIGPIPE (ignored by Node) must be reset to its default');
    });

    test('a command killed by a signal reports the signal, not an exit code', async () => {
      const r = await run('kill -PIPE $$');
      assert.equal(r.exitCode, null);
      assert.equal(r.signal, 'SIGPIPE');
      const k = await run('kill -KILL $$');
      assert.equal(k.signal, 'SIGKILL');
    });

    test('a missing command is exit code 127 from the shell', async () => {
      const r = await run('no-such-command-reprovm-test');
      assert.equal(r.exitCode, 127);
      assert.match(r.stderr.toString(), /not found/);
    });

    test('a missing working directory is a spawn error, in child_process words', async () => {
      const r = await run('true', { cwd: path.join(dir, 'missing') });
      assert.equal(r.spawnError, 'spawn /bin/sh ENOENT');
      assert.equal(r.exitCode, null);
    });

    test('timeout: SIGTERM to the group ends a command that does not catch it', async () => {
      const t0 = performance.now();
      const r = await run('sleep 30', { timeoutMs: 150 });
      assert.equal(r.timedOut, true);
      assert.equal(r.signal, 'SIGTERM');
      assert.ok(performance.now() - t0 < 5000);
    });

    test('timeout: SIGKILL after the grace period reaches the whole group', async () => {
      const pidFile = path.join(dir, `bg-${name}.pid`);
      const r = await run(`trap "" TERM; sleep 30 & echo $! > ${pidFile}; wait; sleep 30`, { timeoutMs: 150, killGraceMs: 300 });
      assert.equal(r.timedOut, true);
      assert.equal(r.signal, 'SIGKILL');
      assert.ok(r.durationMs >= 400, `TERM ignored, so KILL after the grace: ${r.durationMs} ms`);
      assert.ok(await waitGone(Number(readFileSync(pidFile, 'utf8'))), 'the background child was killed with the group');
    });

    test('whatever a command leaves running in its group is killed when it exits', async () => {
      const pidFile = path.join(dir, `stray-${name}.pid`);
      const r = await run(`sleep 30 > /dev/null 2>&1 & echo $! > ${pidFile}`);
      assert.equal(r.exitCode, 0);
      assert.ok(await waitGone(Number(readFileSync(pidFile, 'utf8'))));
    });

    test('interrupt: aborting stops the command (and before the start, nothing runs)', async () => {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 150);
      const r = await run('sleep 30', { signal: ac.signal });
      assert.equal(r.interrupted, true);
      assert.equal(r.signal, 'SIGTERM');
      const early = await run(`touch ${path.join(dir, 'must-not-exist')}`, { signal: AbortSignal.abort() });
      assert.equal(early.interrupted, true);
      assert.throws(() => readFileSync(path.join(dir, 'must-not-exist')));
    });

    test('an abort right after the call, before the start is confirmed, still stops the command', async () => {
      const ac = new AbortController();
      const p = run('sleep 30', { signal: ac.signal });
      ac.abort();
      const r = await p;
      assert.equal(r.interrupted, true);
      assert.ok(r.durationMs < 5000);
    });

    test('ProcessGroups.killAll kills every running group at once', async () => {
      const g = groups();
      const p = Promise.all([run('sleep 30', {}, g), run('sleep 30', {}, g)]);
      const until = Date.now() + 3000;
      while (g.size < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      assert.equal(g.size, 2);
      g.killAll('SIGKILL');
      const rs = await p;
      assert.deepEqual(rs.map((r) => r.signal), ['SIGKILL', 'SIGKILL']);
      assert.equal(g.size, 0);
    });

    test('many commands at once: each gets its own output and exit code', async () => {
      const g = groups();
      const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => run(`echo task ${i}; exit ${i % 5}`, {}, g)));
      rs.forEach((r, i) => {
        assert.equal(r.stdout.toString(), `task ${i}\n`);
        assert.equal(r.exitCode, i % 5);
      });
    });
  });
}
