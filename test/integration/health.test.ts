import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { startGcsFake } from '../helpers/gcs-fake.js';
import { OBJECTS_ONLY, rigsRemovedAfter } from '../helpers/rig.js';

const newRig = rigsRemovedAfter('reprovm-health-', { env: OBJECTS_ONLY }); // samples objects

type Report = { status: string; checks: { name: string; status: string; message: string }[] };
const check = (r: Report, name: string): { status: string; message: string } | undefined => r.checks.find((c) => c.name === name);

describe('reprovm health', () => {
  it('exit 0 on a healthy cache, with every check named', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': 'task a {\n  cmd = printf a > a.txt\n  outputs = a.txt\n}\n' });
    assert.equal((await rig.run(['m.txt', '-q'])).code, 0);
    const r = await rig.run(['health', '--json']);
    assert.equal(r.code, 0, r.stdout);
    const rep = JSON.parse(r.stdout) as Report;
    assert.equal(rep.status, 'ok');
    assert.deepEqual(rep.checks.map((c) => c.name), ['cache-dir', 'disk-space', 'cas-sample', 'lock', 'config']);
    assert.match(check(rep, 'cas-sample')!.message, /1 of 1 objects sampled, all verify/);
    const text = await rig.run(['health']);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /\[ok\] cache-dir: .* is writable/);
    assert.match(text.stdout, /reprovm: health: ok\n$/);
    // The original's flag is the same command.
    assert.equal((await rig.run(['--health-check'])).code, 0);
  });

  it('exit 1 (warning) when a sampled object is corrupt or a lock was left by a dead process', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': 'task a {\n  cmd = printf aaaa > a.txt\n  outputs = a.txt\n}\n' });
    assert.equal((await rig.run(['m.txt', '-q'])).code, 0);
    const objects = path.join(rig.path('.reprovm'), 'cas', 'objects');
    const sub = readdirSync(objects)[0]!;
    const file = path.join(objects, sub, readdirSync(path.join(objects, sub))[0]!);
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    writeFileSync(file, bytes);
    const r = await rig.run(['health', '--json']);
    assert.equal(r.code, 1, r.stdout);
    const rep = JSON.parse(r.stdout) as Report;
    assert.equal(rep.status, 'warning');
    assert.match(check(rep, 'cas-sample')!.message, /1 of 1 sampled objects are corrupt/);
    assert.equal(readdirSync(path.join(objects, sub)).length, 1, 'health is read-only: nothing quarantined');

    // A lock left by a process that is gone.
    rmSync(file);
    mkdirSync(rig.path('.reprovm/lock'));
    const { hostname } = await import('node:os');
    writeFileSync(rig.path('.reprovm/lock.owner'), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), startedAt: new Date().toISOString() }));
    const l = await rig.run(['health', '--json']);
    assert.equal(l.code, 1, l.stdout);
    assert.match(check(JSON.parse(l.stdout) as Report, 'lock')!.message, /left by pid \d+, which is gone/);
  });

  it('checks the run lock in the workspace, also when cache_dir points elsewhere', async () => {
    const rig = newRig();
    rig.write({ 'ws/m.txt': 'task a {\n  cmd = printf a > a.txt\n  outputs = a.txt\n}\n', 'ws/reprovm.conf': '[cache]\ncache_dir = ../shared\n' });
    assert.equal((await rig.run(['ws/m.txt', '-q'])).code, 0);
    mkdirSync(rig.path('ws/.reprovm/lock'));
    const { hostname } = await import('node:os');
    writeFileSync(rig.path('ws/.reprovm/lock.owner'), JSON.stringify({ pid: 2 ** 22 + 54321, host: hostname(), startedAt: new Date().toISOString() }));
    for (const args of [['--health-check', '--json', 'ws/m.txt'], ['health', '--json', '--cache-dir', 'shared', '--workspace', 'ws']]) {
      const r = await rig.run(args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(check(JSON.parse(r.stdout) as Report, 'lock')!.message, /the workspace lock was left by pid \d+, which is gone/);
    }
  });

  it('exit 2 (critical) when the cache dir cannot be a writable directory (a file stands where it should be)', async () => {
    const rig = newRig();
    rig.write({ 'blocker': 'not a directory' });
    const r = await rig.run(['health', '--json', '--cache-dir', 'blocker']);
    assert.equal(r.code, 2, r.stdout);
    const rep = JSON.parse(r.stdout) as Report;
    assert.equal(rep.status, 'critical');
    assert.match(check(rep, 'cache-dir')!.message, /exists but is not a directory/);
    // Also below it: its parent is a file.
    const below = await rig.run(['health', '--cache-dir', 'blocker/cache']);
    assert.equal(below.code, 2, below.stdout);
    assert.match(below.stdout, /\[CRIT\] cache-dir: .*blocker is not a directory/);
  });

  it('checks a configured remote: reachable is ok, a missing bucket (directory) is critical', async () => {
    const rig = newRig();
    mkdirSync(rig.path('remote'));
    rig.write({ 'reprovm.conf': `[remote]\nurl = ${rig.path('remote')}\n` });
    const ok = await rig.run(['health', '--json']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(check(JSON.parse(ok.stdout) as Report, 'remote')!.message, /reachable and authorised/);
    rmSync(rig.path('remote'), { recursive: true });
    const gone = await rig.run(['health', '--json']);
    assert.equal(gone.code, 2, gone.stdout);
    assert.equal(check(JSON.parse(gone.stdout) as Report, 'remote')!.status, 'critical');
  });

  it('the remote check retries a transient failure with the [remote] settings, like a run does', async () => {
    const gcs = await startGcsFake();
    const proxy = await startFaultProxy(gcs.port);
    try {
      gcs.createBucket('health');
      const rig = newRig();
      rig.write({ 'reprovm.conf': `[remote]\nurl = gs://health/p\nendpoint = ${proxy.endpoint}\nretries = 2\nconnect_timeout_seconds = 2\n` });
      await proxy.setFault({ mode: 'status', status: 503, times: 2 });
      const r = await rig.run(['health', '--json']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(check(JSON.parse(r.stdout) as Report, 'remote')!.message, /reachable and authorised/);
      // Two failures, then the retry that worked (a missing key also makes the adapter look at the bucket).
      assert.equal(proxy.log.filter((l) => l.includes('probe')).length, 3, proxy.log.join('\n'));
      // With retries = 0 the same blip is a warning.
      proxy.resetCount();
      await proxy.setFault({ mode: 'status', status: 503, times: 1 });
      const once = await rig.run(['health', '--json'], { env: { REPROVM_REMOTE_RETRIES: '0' } });
      assert.equal(once.code, 1, once.stdout + once.stderr);
      assert.equal(check(JSON.parse(once.stdout) as Report, 'remote')!.status, 'warning');
    } finally {
      await proxy.stop();
      await gcs.stop();
    }
  });

  it('a remote URL that cannot be used is critical, with the reason', async () => {
    const rig = newRig();
    rig.write({ 'reprovm.conf': '[remote]\nurl = ftp://host/cache\n' });
    const r = await rig.run(['health', '--json']);
    assert.equal(r.code, 2, r.stdout);
    const remote = check(JSON.parse(r.stdout) as Report, 'remote')!;
    assert.equal(remote.status, 'critical');
    assert.match(remote.message, /^cannot open the remote: cannot use the remote cache ftp:\/\/host\/cache: unknown remote scheme/);
  });

  it('exit 2 (critical) on an invalid configuration', async () => {
    const rig = newRig();
    rig.write({ 'reprovm.conf': '[execution]\nparallel_jobs = lots\n' });
    const r = await rig.run(['health', '--json']);
    assert.equal(r.code, 2, r.stdout);
    const rep = JSON.parse(r.stdout) as Report;
    assert.equal(rep.status, 'critical');
    assert.equal(check(rep, 'config')!.status, 'critical');
    assert.match(check(rep, 'config')!.message, /reprovm\.conf:2/);
  });
});
