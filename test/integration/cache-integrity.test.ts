import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { ActionCache, inlineBlob } from '../../src/cas/action-cache.js';
import { ObjectStore } from '../../src/cas/object-store.js';
import type { TaskKey } from '../../src/hash/digest.js';
import { Rig, collect, events, statuses, waitFor } from '../helpers/rig.js';

function objectFiles(cacheDir: string): string[] {
  const root = path.join(cacheDir, 'cas', 'objects');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((d) => readdirSync(path.join(root, d)).map((f) => path.join(root, d, f)));
}

/** Every record names blobs that exist and verify: the invariant a crash must never break. */
async function assertCacheConsistent(cacheDir: string): Promise<number> {
  const actions = new ActionCache(cacheDir);
  const store = new ObjectStore(cacheDir, { codec: 'zstd', level: 3 });
  let records = 0;
  for await (const key of actions.list()) {
    const found = await actions.get(key as TaskKey);
    assert.equal(found.kind, 'hit', `record ${key} is readable`);
    if (found.kind !== 'hit') continue;
    records += 1;
    for (const out of found.record.outputs) {
      if (out.kind !== 'file' || inlineBlob(found.record, out.digest!) !== undefined) continue; // inline: checked by the read
      const v = await store.verify(out.digest!);
      assert.ok(v.ok, `blob of ${out.path} verifies`);
    }
  }
  return records;
}

describe('cache integrity', () => {
  let rig: Rig;
  beforeEach(() => (rig = new Rig()));
  afterEach(() => rig.cleanup());

  test('a corrupted CAS object is detected, never restored, and healed by the re-run', async () => {
    rig.write({ 'm.txt': 'task t {\n  cmd = seq 1 5000 > out.txt\n  outputs = out.txt\n}\n' });
    assert.equal((await rig.run(['m.txt'])).code, 0);
    const good = rig.read('out.txt');
    for (const f of objectFiles(rig.path('.reprovm'))) {
      const bytes = readFileSync(f);
      bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 0xff;
      writeFileSync(f, bytes);
    }
    rmSync(rig.path('out.txt'));
    const r = await rig.run(['--json', 'm.txt']);
    assert.equal(r.code, 0, r.stderr);
    const warnings = events(r.stdout).filter((e) => e.type === 'warning');
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.match(warnings[0]!.message as string, /cannot restore task "t" from the cache: .*corrupt|digest/i);
    const fin = events(r.stdout).find((e) => e.type === 'task-finished');
    assert.equal(fin?.status, 'executed');
    assert.deepEqual(fin?.cache, { result: 'miss', reason: 'corrupt' });
    assert.equal(rig.read('out.txt'), good);
    assert.ok(readdirSync(rig.path('.reprovm/cas/quarantine')).length >= 1, 'bad object quarantined');
    // Healed: the next restore works from the re-stored object.
    rmSync(rig.path('out.txt'));
    const again = await rig.run(['--json', 'm.txt']);
    assert.equal(statuses(again.stdout).t, 'cached');
    assert.equal(rig.read('out.txt'), good);
  });

  test('a corrupt action record is a miss with a warning, not a crash', async () => {
    rig.write({ 'm.txt': 'task t {\n  cmd = echo hi > out.txt\n  outputs = out.txt\n}\n' });
    await rig.run(['m.txt']);
    const dir = rig.path('.reprovm/cache');
    for (const f of readdirSync(dir)) writeFileSync(path.join(dir, f), '{"version":1,"task":"t"');
    rmSync(rig.path('out.txt'));
    const r = await rig.run(['--json', 'm.txt']);
    assert.equal(r.code, 0);
    assert.equal(statuses(r.stdout).t, 'executed');
    assert.match(r.stdout, /"reason":"corrupt"/);
  });

  test('kill -9 during a run leaves a consistent cache and loses no finished work', async () => {
    const tasks = Array.from({ length: 24 }, (_, i) =>
      `task t${i} {\n  cmd = echo $$ > pid${i}; head -c 300000 /dev/urandom > out${i}.bin; touch done${i}; ${i >= 4 ? 'sleep 30' : 'true'}\n  outputs = out${i}.bin\n}\n`,
    ).join('\n');
    rig.write({ 'm.txt': tasks });
    const child = rig.spawn(['-j', '8', 'm.txt']);
    const done = collect(child);
    // t0..t3 finish; t4.. hang: kill while some are stored and others are mid-flight.
    await waitFor(() => [0, 1, 2, 3].every((i) => rig.exists(`done${i}`)) && rig.exists('done4'));
    // Kill once the four finished tasks have their records (not after a fixed delay, which a
    // loaded machine can outrun), while the others are still running.
    const recordCount = (): number => {
      try {
        return readdirSync(rig.path('.reprovm/cache')).filter((f) => f.endsWith('.json')).length;
      } catch {
        return 0;
      }
    };
    await waitFor(() => recordCount() >= 4, 20_000, 'the finished tasks to be recorded');
    child.kill('SIGKILL');
    await done;
    // Stop the orphaned task processes (a SIGKILLed reprovm cannot).
    for (let i = 0; i < 24; i++) {
      if (!rig.exists(`pid${i}`)) continue;
      try {
        process.kill(-Number(rig.read(`pid${i}`)), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    const records = await assertCacheConsistent(rig.path('.reprovm'));
    assert.ok(records >= 4, `the finished tasks' records survived (${records})`);

    rig.write({ 'm.txt': tasks.replaceAll('sleep 30', 'true') });
    const kept = await Promise.all([0, 1, 2, 3].map((i) => readFileSync(rig.path(`out${i}.bin`))));
    const r = await rig.run(['-j', '8', '--json', 'm.txt']);
    assert.equal(r.code, 0, r.stderr);
    const st = statuses(r.stdout);
    for (const i of [0, 1, 2, 3]) assert.equal(st[`t${i}`], 'cached', `t${i} was not run again`);
    for (const i of [0, 1, 2, 3]) assert.deepEqual(readFileSync(rig.path(`out${i}.bin`)), kept[i]);
    await assertCacheConsistent(rig.path('.reprovm'));
  });

  test('two workspaces run concurrently against one cache directory', async () => {
    const other = new Rig();
    try {
      const tasks = Array.from({ length: 30 }, (_, i) => `task t${i} {\n  cmd = seq 1 ${3000 + (i % 5)} > o${i}.txt\n  outputs = o${i}.txt\n}\n`).join('\n');
      rig.write({ 'm.txt': tasks });
      other.write({ 'm.txt': tasks });
      const cache = rig.path('shared');
      const [a, b] = await Promise.all([
        rig.run(['-j', '4', '--cache-dir', cache, 'm.txt']),
        other.run(['-j', '4', '--cache-dir', cache, 'm.txt']),
      ]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      assert.equal(await assertCacheConsistent(cache), 30);
      for (const i of [0, 7, 29]) assert.equal(other.read(`o${i}.txt`), rig.read(`o${i}.txt`));
      assert.deepEqual(readdirSync(path.join(cache, 'cas', 'tmp')), [], 'no temp files left');
    } finally {
      other.cleanup();
    }
  });

  test('lz4, none and zstd objects coexist in one store (written with each --fsync mode)', async () => {
    rig.write({ 'm.txt': 'task a {\n  cmd = seq 1 3000 > a.txt\n  outputs = a.txt\n}\n\ntask b {\n  cmd = seq 1 4000 > b.txt\n  outputs = b.txt\n}\n\ntask c {\n  cmd = seq 1 5000 > c.txt\n  outputs = c.txt\n}\n' });
    for (const [args, target] of [
      [['--compress', 'lz4', '--fsync', 'always'], 'a'],
      [['--compress', 'none', '--fsync', 'off'], 'b'],
      [['--compress', 'zstd', '--compress-level', '9'], 'c'],
    ] as const) {
      const r = await rig.run([...args, 'm.txt', target]);
      assert.equal(r.code, 0, r.stderr);
    }
    await assertCacheConsistent(rig.path('.reprovm'));
    const want = ['a', 'b', 'c'].map((n) => rig.read(`${n}.txt`));
    for (const n of ['a', 'b', 'c']) rmSync(rig.path(`${n}.txt`));
    const r = await rig.run(['--json', 'm.txt']);
    assert.deepEqual(statuses(r.stdout), { a: 'cached', b: 'cached', c: 'cached' });
    assert.deepEqual(['a', 'b', 'c'].map((n) => rig.read(`${n}.txt`)), want);
  });

  test('directory outputs restore exactly: stale extra files are removed', async () => {
    rig.write({ 'm.txt': 'task gen {\n  cmd = mkdir -p out/sub && echo 1 > out/one && echo 2 > out/sub/two && ln -s one out/link\n  outputs = out\n}\n' });
    await rig.run(['m.txt']);
    rig.write({ 'out/stale.txt': 'x', 'out/sub/stale2': 'y' });
    rmSync(rig.path('out/one'));
    const r = await rig.run(['--json', 'm.txt']);
    assert.equal(statuses(r.stdout).gen, 'cached');
    assert.deepEqual(readdirSync(rig.path('out')).sort(), ['link', 'one', 'sub']);
    assert.deepEqual(readdirSync(rig.path('out/sub')), ['two']);
    assert.equal(rig.read('out/link'), '1\n');
  });

  test('a restore never writes through a symlink out of the workspace', async () => {
    const outside = new Rig();
    try {
      rig.write({ 'm.txt': 'task gen {\n  cmd = mkdir -p out && echo secret > out/file\n  outputs = out/file\n}\n' });
      await rig.run(['m.txt']);
      rmSync(rig.path('out'), { recursive: true });
      symlinkSync(outside.dir, rig.path('out'));
      const r = await rig.run(['--json', 'm.txt']);
      assert.equal(existsSync(path.join(outside.dir, 'file')), false, 'nothing written outside');
      assert.equal(r.code, 1);
      const fin = events(r.stdout).find((e) => e.type === 'task-finished');
      assert.equal((fin?.failure as { reason: string }).reason, 'output-invalid');
      assert.match(r.stdout, /refusing to write \\"out\/file\\": \\"out\\" is a symlink/);
    } finally {
      outside.cleanup();
    }
  });

  test('leftover temp files of dead writers are swept at start', async () => {
    rig.write({ 'm.txt': 'task t {\n  cmd = echo hi > out.txt\n  outputs = out.txt\n}\n' });
    await rig.run(['m.txt']);
    mkdirSync(rig.path('.reprovm/cas/tmp'), { recursive: true });
    const tmpDir = rig.path('.reprovm/cas/tmp');
    const names = readdirSync(tmpDir);
    assert.deepEqual(names, []);
    // Names in the store's format (<host>_<pid>_<random>): one of a pid that cannot exist on
    // this host, one of a live process (this test), which must be left alone.
    const { hostname } = await import('node:os');
    const dead = `${hostname()}_999999999_0123456789abcdef`;
    const live = `${hostname()}_${process.pid}_0123456789abcdef`;
    writeFileSync(path.join(tmpDir, dead), 'junk');
    writeFileSync(path.join(tmpDir, live), 'in progress');
    await rig.run(['-f', 'm.txt']);
    assert.equal(existsSync(path.join(tmpDir, dead)), false);
    assert.equal(existsSync(path.join(tmpDir, live)), true);
  });
});
