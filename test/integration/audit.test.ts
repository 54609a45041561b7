import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Rig, collect, waitFor } from '../helpers/rig.js';

interface Entry {
  seq: number;
  type: string;
  pid: number;
  details: Record<string, unknown>;
}

function entries(file: string): Entry[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Entry);
}

const MANIFEST = `task a {
  cmd = echo a > a.txt
  outputs = a.txt
}
task b {
  cmd = cat a.txt > b.txt
  inputs = a.txt
  outputs = b.txt
}
task nocache {
  cmd = true
  cache = false
}
`;

describe('audit log (CLI)', () => {
  let rig: Rig;
  beforeEach(() => (rig = new Rig()));
  afterEach(() => rig.cleanup());

  test('a run records config, lock, run and task entries in order; a rerun records restores', async () => {
    rig.write({ 'm.txt': MANIFEST, 'reprovm.conf': '[execution]\nparallel_jobs = 1\n' });
    const r = await rig.run(['-j', '1', 'm.txt']);
    assert.equal(r.code, 0, r.stderr);
    const log = rig.path('.reprovm/audit.log');
    const first = entries(log);
    const types = first.map((e) => e.type);
    assert.deepEqual(types.slice(0, 3), ['config.loaded', 'lock.acquired', 'run.started']);
    assert.equal(types[types.length - 1], 'run.finished');
    const byTask = (task: string): string[] => first.filter((e) => e.details.task === task).map((e) => e.type);
    assert.deepEqual(byTask('a'), ['task.started', 'task.succeeded', 'cache.stored']);
    assert.deepEqual(byTask('b'), ['task.started', 'task.succeeded', 'cache.stored']);
    assert.deepEqual(byTask('nocache'), ['task.started', 'task.succeeded']); // cache = false: nothing stored
    const config = first[0]!.details;
    assert.equal(config.file, rig.path('reprovm.conf'));
    assert.match(String(config.digest), /^[0-9a-f]{64}$/);
    assert.deepEqual(first.map((e) => e.seq), first.map((_, i) => i + 1));
    const runId = first.find((e) => e.type === 'run.started')!.details.runId;
    assert.equal(first.find((e) => e.type === 'run.finished')!.details.runId, runId);
    assert.equal(first.find((e) => e.type === 'run.finished')!.details.exitCode, 0);

    rmSync(rig.path('b.txt'));
    assert.equal((await rig.run(['m.txt'])).code, 0);
    const second = entries(log).slice(first.length);
    const restored = second.filter((e) => e.type === 'task.restored');
    // a was up to date (nothing restored, not audited); b was restored.
    assert.deepEqual(restored.map((e) => [e.details.task, e.details.upToDate]), [['b', false]]);

    const v = await rig.run(['audit', 'verify']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, new RegExp(`audit log ok: ${first.length + second.length} entries`));
  });

  test('a failing task is audited with its reason', async () => {
    rig.write({ 'm.txt': 'task bad {\n  cmd = exit 7\n}\n' });
    assert.equal((await rig.run(['m.txt'])).code, 1);
    const failed = entries(rig.path('.reprovm/audit.log')).find((e) => e.type === 'task.failed');
    assert.deepEqual({ ...failed!.details, runId: undefined, key: undefined, durationMs: undefined }, {
      runId: undefined, key: undefined, durationMs: undefined, task: 'bad', reason: 'exit-non-zero', exitCode: 7,
    });
  });

  test('audit verify reports an edited line with exit 1; --json gives the report', async () => {
    rig.write({ 'm.txt': MANIFEST });
    await rig.run(['m.txt']);
    const log = rig.path('.reprovm/audit.log');
    const lines = readFileSync(log, 'utf8').split('\n');
    lines[3] = lines[3]!.replace('"task":"', '"task":"x');
    writeFileSync(log, lines.join('\n'));
    const v = await rig.run(['audit', 'verify']);
    assert.equal(v.code, 1);
    assert.match(v.stderr, /audit log .*audit\.log: line 4 was modified/);
    const j = await rig.run(['audit', 'verify', '--json']);
    assert.equal(j.code, 1);
    const report = JSON.parse(j.stdout) as { ok: boolean; problem: { line: number; kind: string } };
    assert.deepEqual([report.ok, report.problem.line, report.problem.kind], [false, 4, 'edited']);
  });

  test('audit verify notices entries deleted from the end of the log (the .head anchor)', async () => {
    rig.write({ 'm.txt': MANIFEST });
    await rig.run(['m.txt']);
    const log = rig.path('.reprovm/audit.log');
    const total = entries(log).length;
    assert.deepEqual(JSON.parse(readFileSync(`${log}.head`, 'utf8')).seq, total);
    assert.equal((await rig.run(['audit', 'verify'])).code, 0);
    const original = readFileSync(log, 'utf8');
    // The last line replaced by a forged one that still chains (same seq and prev): caught by the head's hash.
    const lines = original.split('\n').filter((l) => l !== '');
    lines[lines.length - 1] = lines.at(-1)!.replace(/"time":"[^"]*"/, '"time":"2000-01-01T00:00:00.000Z"');
    writeFileSync(log, `${lines.join('\n')}\n`);
    const forged = await rig.run(['audit', 'verify']);
    assert.equal(forged.code, 1);
    assert.match(forged.stderr, new RegExp(`line ${total} \\(entry ${total}\\) is not the entry that was written last`));
    // The last entry deleted.
    writeFileSync(log, original);
    execFileSync('sed', ['-i', '$d', log]);
    const v = await rig.run(['audit', 'verify']);
    assert.equal(v.code, 1);
    assert.match(v.stderr, new RegExp(`entries after ${total - 1} were deleted: the log ends at entry ${total - 1}, but entry ${total} was written`));
  });

  test('audit show filters by type, limit and time; bad arguments exit 2', async () => {
    rig.write({ 'm.txt': MANIFEST });
    await rig.run(['m.txt']);
    const s = await rig.run(['audit', 'show', '--type', 'task.succeeded', '--json']);
    assert.equal(s.code, 0, s.stderr);
    const shown = s.stdout.trim().split('\n').map((l) => JSON.parse(l) as Entry);
    assert.equal(shown.length, 3);
    assert.ok(shown.every((e) => e.type === 'task.succeeded'));
    const lim = await rig.run(['audit', 'show', '--type', 'run.,lock.acquired', '--limit', '2']);
    assert.deepEqual(lim.stdout.trim().split('\n').map((l) => l.split(/\s+/)[1]), ['run.started', 'run.finished']);
    const future = await rig.run(['audit', 'show', '--since', '2999-01-01']);
    assert.equal(future.stdout, '');
    const recent = await rig.run(['audit', 'show', '--since', '1h', '--json']);
    assert.equal(recent.stdout.trim().split('\n').length, entries(rig.path('.reprovm/audit.log')).length);
    const badType = await rig.run(['audit', 'show', '--type', 'task.exploded']);
    assert.equal(badType.code, 2);
    assert.match(badType.stderr, /unknown audit event type "task.exploded"/);
    const badSince = await rig.run(['audit', 'show', '--since', 'yesterday']);
    assert.equal(badSince.code, 2);
    assert.match(badSince.stderr, /--since "yesterday": expected/);
  });

  test('a manifest path escaping the workspace is audited as security.path-escape', async () => {
    rig.write({ 'm.txt': 'task t {\n  cmd = true\n  inputs = ../../etc/passwd\n}\n' });
    const r = await rig.run(['m.txt']);
    assert.equal(r.code, 2);
    const e = entries(rig.path('.reprovm/audit.log'));
    assert.deepEqual(e.map((x) => x.type), ['security.path-escape']);
    assert.match(String((e[0]!.details.problems as string[])[0]), /^m\.txt:3:\d+: input path "\.\.\/\.\.\/etc\/passwd" escapes the workspace/);
  });

  test('a corrupt cache record is audited as cache.corrupt', async () => {
    rig.write({ 'm.txt': 'task t {\n  cmd = echo hi > out.txt\n  outputs = out.txt\n}\n' });
    await rig.run(['m.txt']);
    const dir = rig.path('.reprovm/cache');
    for (const f of readdirSync(dir)) writeFileSync(path.join(dir, f), '{"version":1,"task":"t"');
    rmSync(rig.path('out.txt'));
    assert.equal((await rig.run(['m.txt'])).code, 0);
    const corrupt = entries(rig.path('.reprovm/audit.log')).filter((e) => e.type === 'cache.corrupt');
    assert.equal(corrupt.length, 1);
    assert.equal(corrupt[0]!.details.task, 't');
    assert.match(String(corrupt[0]!.details.message), /corrupt/);
  });

  test('[audit] enabled = 0 writes nothing; [audit] path moves the log', async () => {
    rig.write({ 'm.txt': MANIFEST, 'reprovm.conf': '[audit]\nenabled = 0\n' });
    assert.equal((await rig.run(['m.txt'])).code, 0);
    assert.equal(existsSync(rig.path('.reprovm/audit.log')), false);
    rig.write({ 'reprovm.conf': '[audit]\npath = logs/audit.jsonl\n' });
    assert.equal((await rig.run(['-f', 'm.txt'])).code, 0);
    assert.ok(entries(rig.path('logs/audit.jsonl')).length > 5);
  });

  test('syslog = 1 feeds every entry to `logger -t reprovm`', async () => {
    // A stand-in `logger` on PATH records its arguments and input.
    rig.writeExecutable('bin/logger', `#!/bin/sh\necho "$@" > "${rig.path('logger.args')}"\ncat >> "${rig.path('logger.out')}"\n`);
    rig.write({ 'm.txt': MANIFEST, 'reprovm.conf': '[audit]\nsyslog = 1\n' });
    const r = await rig.run(['m.txt'], { env: { PATH: `${rig.path('bin')}:${process.env.PATH}` } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(rig.read('logger.args'), /^-t reprovm /);
    assert.equal(rig.read('logger.out'), readFileSync(rig.path('.reprovm/audit.log'), 'utf8'));
  });

  test('after a kill -9 mid-run the chain is still valid and the next run records the broken lock', async () => {
    rig.write({ 'm.txt': 'task quick {\n  cmd = echo q > q.txt\n  outputs = q.txt\n}\ntask slow {\n  cmd = echo $$ > slow.pid.tmp && mv slow.pid.tmp slow.pid && exec sleep 30\n  deps = quick\n}\n' });
    const child = rig.spawn(['m.txt']);
    const done = collect(child);
    await waitFor(() => rig.exists('slow.pid'), 20_000, 'the slow task to start');
    child.kill('SIGKILL');
    await done;
    // The task's process group outlives a SIGKILLed runner: end it here.
    try {
      process.kill(-Number(rig.read('slow.pid').trim()), 'SIGKILL');
    } catch {
      // Already gone.
    }
    rig.write({ 'm.txt': 'task quick {\n  cmd = echo q > q.txt\n  outputs = q.txt\n}\n' });
    const r = await rig.run(['m.txt']);
    assert.equal(r.code, 0, r.stderr);
    const e = entries(rig.path('.reprovm/audit.log'));
    const broken = e.find((x) => x.type === 'lock.stale-broken');
    assert.ok(broken, e.map((x) => x.type).join(' '));
    assert.equal(broken.details.pid, child.pid);
    const v = await rig.run(['audit', 'verify']);
    assert.equal(v.code, 0, v.stderr);
  });

  test('two workspaces sharing one cache dir run at once: one valid chain', async () => {
    const many = Array.from({ length: 30 }, (_, i) => `task t${i} {\n  cmd = echo ${i} > o${i}.txt\n  outputs = o${i}.txt\n}\n`).join('');
    rig.write({ 'w1/m.txt': many, 'w2/m.txt': many });
    const shared = rig.path('shared-cache');
    const [r1, r2] = await Promise.all([
      collect(rig.spawn(['--cache-dir', shared, '-j', '4', 'w1/m.txt'])),
      collect(rig.spawn(['--cache-dir', shared, '-j', '4', 'w2/m.txt'])),
    ]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(r2.code, 0, r2.stderr);
    const e = entries(path.join(shared, 'audit.log'));
    assert.equal(e.filter((x) => x.type === 'run.finished').length, 2);
    // The same keys in both: whichever ran second may restore what the other stored.
    assert.equal(e.filter((x) => x.type === 'task.succeeded' || x.type === 'task.restored').length, 60);
    assert.equal(new Set(e.map((x) => x.pid)).size, 2);
    const v = await rig.run(['audit', 'verify', '--cache-dir', shared]);
    assert.equal(v.code, 0, v.stderr);
  });
});
