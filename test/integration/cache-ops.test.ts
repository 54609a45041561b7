import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { collect, OBJECTS_ONLY, rigsRemovedAfter, statuses } from '../helpers/rig.js';

const newRig = rigsRemovedAfter('reprovm-cache-ops-', { env: OBJECTS_ONLY }); // counts and damages objects

/** A manifest of tasks that each write `kb` KiB of random (incompressible) bytes. */
function randomTasks(names: readonly string[], kb: number, extra = ''): string {
  return names
    .map((n) => `task ${n} {\n  cmd = ${extra}head -c ${kb * 1024} /dev/urandom > out-${n}.bin\n  outputs = out-${n}.bin\n}\n`)
    .join('');
}

/** task name → record file, from the records in the cache dir. */
function recordFiles(cacheDir: string): Map<string, string> {
  const dir = path.join(cacheDir, 'cache');
  const out = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json')) continue;
    const rec = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as { task: string };
    out.set(rec.task, path.join(dir, name));
  }
  return out;
}

function objectFiles(cacheDir: string): string[] {
  const root = path.join(cacheDir, 'cas', 'objects');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((sub) => readdirSync(path.join(root, sub)).map((n) => path.join(root, sub, n)));
}

/** Make every record and object look `ageMs` old (last used then). */
function age(cacheDir: string, ageMs: number): void {
  const t = new Date(Date.now() - ageMs);
  for (const f of [...recordFiles(cacheDir).values(), ...objectFiles(cacheDir)]) utimesSync(f, t, t);
}

const HOUR = 3_600_000;

describe('cache gc', () => {
  it('evicts least recently used records first, then their unreferenced blobs; touched records survive', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': randomTasks(['a', 'b', 'c', 'd'], 64) });
    assert.equal((await rig.run(['m.txt', '-q'])).code, 0);
    const cache = rig.path('.reprovm');
    age(cache, 5 * HOUR);
    // Use order: a oldest … d newest; then a cache hit on "a" makes it the most recently used.
    const recs = recordFiles(cache);
    ['a', 'b', 'c', 'd'].forEach((t, i) => {
      const when = new Date(Date.now() - (4 - i) * HOUR);
      utimesSync(recs.get(t)!, when, when);
    });
    rig.write({ 'out-a.bin': 'changed' }); // forces a restore of "a" from the cache, which touches its record
    const hit = await rig.run(['m.txt', '--json']);
    assert.equal(statuses(hit.stdout).a, 'cached');
    assert.ok(statSync(recs.get('a')!).mtimeMs > Date.now() - 60_000, 'a cache hit touches the record');
    age(cache, 0); // (objects only matter through records from here on)
    for (const [t, f] of recs) {
      const when = new Date(Date.now() - (t === 'a' ? 0.5 : 5 - ['a', 'b', 'c', 'd'].indexOf(t)) * HOUR);
      utimesSync(f, when, when);
    }
    for (const f of objectFiles(cache)) utimesSync(f, new Date(Date.now() - 6 * HOUR), new Date(Date.now() - 6 * HOUR));

    // Room for about two 64 KiB outputs: b and c (least recently used) go, d and a stay.
    const r = await rig.run(['cache', 'gc', '--max-size', '150K', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { recordsEvicted: number; objectsEvicted: number; underLimit: boolean; after: { bytes: number }; evicted: { task: string }[] };
    assert.deepEqual(report.evicted.map((e) => e.task), ['b', 'c']);
    assert.equal(report.recordsEvicted, 2);
    assert.equal(report.objectsEvicted, 2);
    assert.ok(report.underLimit && report.after.bytes <= 150 * 1024);
    assert.deepEqual([...recordFiles(cache).keys()].sort(), ['a', 'd']);
    assert.equal(objectFiles(cache).length, 2);
    const v = await rig.run(['cache', 'verify']);
    assert.equal(v.code, 0, v.stdout);
    // What survived still restores.
    rig.write({ 'out-a.bin': 'x', 'out-d.bin': 'x' });
    assert.deepEqual(statuses((await rig.run(['m.txt', '--json', 'a', 'd'])).stdout), { a: 'cached', d: 'cached' });
  });

  it('an up-to-date task refreshes its record\'s last use at most hourly', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': randomTasks(['a', 'b'], 1) });
    assert.equal((await rig.run(['m.txt', '-q'])).code, 0);
    const cache = rig.path('.reprovm');
    age(cache, 5 * HOUR);
    const recs = recordFiles(cache);
    assert.equal((await rig.run(['m.txt', '-q'])).code, 0);
    assert.ok(statSync(recs.get('a')!).mtimeMs < Date.now() - 4 * HOUR, 'used within the hour: not touched again');
    // This workspace last confirmed "a" two hours ago: the next no-op touches its record.
    const state = JSON.parse(rig.read('.reprovm/state.json')) as { tasks: Record<string, { finishedAt: string }> };
    state.tasks.a!.finishedAt = new Date(Date.now() - 2 * HOUR).toISOString();
    writeFileSync(rig.path('.reprovm/state.json'), JSON.stringify(state));
    const r = await rig.run(['m.txt', '--json']);
    assert.deepEqual(statuses(r.stdout), { a: 'cached', b: 'cached' });
    assert.ok(statSync(recs.get('a')!).mtimeMs > Date.now() - 60_000, 'a was touched');
    assert.ok(statSync(recs.get('b')!).mtimeMs < Date.now() - 4 * HOUR, 'b was not');
    const gc = JSON.parse((await rig.run(['cache', 'gc', '--max-size', '1500', '--json'])).stdout) as { evicted: { task: string }[] };
    assert.deepEqual(gc.evicted.map((e) => e.task), ['b']);
  });

  it('--dry-run deletes nothing; --max-age evicts only old entries', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': randomTasks(['a', 'b'], 8) });
    assert.equal((await rig.run(['m.txt', '-q'])).code, 0);
    const cache = rig.path('.reprovm');
    age(cache, 0);
    const recs = recordFiles(cache);
    const old = new Date(Date.now() - 40 * 24 * HOUR);
    utimesSync(recs.get('a')!, old, old);
    for (const f of objectFiles(cache)) utimesSync(f, old, old);
    const before = objectFiles(cache).length;

    const dry = await rig.run(['cache', 'gc', '--max-age', '30d', '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    const d = JSON.parse(dry.stdout) as { dryRun: boolean; recordsEvicted: number; evicted: { task: string }[] };
    assert.equal(d.dryRun, true);
    assert.deepEqual(d.evicted.map((e) => e.task), ['a']);
    assert.equal(recordFiles(cache).size, 2, 'dry run deleted a record');
    assert.equal(objectFiles(cache).length, before, 'dry run deleted an object');

    const real = await rig.run(['cache', 'gc', '--max-age', '30d']);
    assert.equal(real.code, 0, real.stderr);
    assert.match(real.stdout, /evicted 1 records and 1 objects/);
    assert.deepEqual([...recordFiles(cache).keys()], ['b']);
  });

  it('an object written within the grace period survives even when unreferenced (a build stores objects before its record)', async () => {
    const rig = newRig();
    const obj = (hex: string): string => rig.path(`.reprovm/cas/objects/${hex.slice(0, 2)}/${hex.slice(2)}`);
    const fresh = 'a'.repeat(64);
    const old = 'b'.repeat(64);
    rig.write({ [`.reprovm/cas/objects/aa/${fresh.slice(2)}`]: 'x'.repeat(4096), [`.reprovm/cas/objects/bb/${old.slice(2)}`]: 'y'.repeat(4096) });
    const t = new Date(Date.now() - HOUR);
    utimesSync(obj(old), t, t);
    const r = await rig.run(['cache', 'gc', '--max-size', '1K', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as { objectsEvicted: number; underLimit: boolean };
    assert.equal(rep.objectsEvicted, 1);
    assert.equal(rep.underLimit, false);
    assert.ok(existsSync(obj(fresh)), 'the fresh object must survive');
    assert.ok(!existsSync(obj(old)), 'the old orphan goes');
    // With no grace at all, it goes too.
    assert.equal((await rig.run(['cache', 'gc', '--max-size', '1K', '--grace', '0s'])).code, 0);
    assert.ok(!existsSync(obj(fresh)));
  });

  it('without a limit is a usage error', async () => {
    const rig = newRig();
    const r = await rig.run(['cache', 'gc']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /needs a limit: --max-size or --max-age/);
  });

  it('keeps the cache under its limit while a build runs in another process, and the build\'s results stay cached', async () => {
    const rig = newRig();
    // Old entries: 6 × 64 KiB, last used hours ago.
    rig.write({ 'm.txt': randomTasks(['o1', 'o2', 'o3', 'o4', 'o5', 'o6'], 64) });
    assert.equal((await rig.run(['m.txt', '-q'])).code, 0);
    const cache = rig.path('.reprovm');
    age(cache, 3 * HOUR);
    // The new build: 4 × 64 KiB, slowly, one at a time, while gc runs again and again.
    const fresh = ['n1', 'n2', 'n3', 'n4'];
    rig.write({ 'm.txt': randomTasks(fresh, 64, 'sleep 0.3; ') });
    const build = rig.spawn(['m.txt', '--json', '-j', '1']);
    const done = collect(build);
    let finished = false;
    void done.then(() => (finished = true));
    let gcRuns = 0;
    while (!finished) {
      const g = await rig.run(['cache', 'gc', '--max-size', '300K', '--json']);
      assert.equal(g.code, 0, g.stderr);
      gcRuns += 1;
    }
    const b = await done;
    assert.equal(b.code, 0, b.stderr);
    assert.ok(gcRuns >= 2, `gc ran ${gcRuns} times during the build`);
    assert.deepEqual(Object.values(statuses(b.stdout)), ['executed', 'executed', 'executed', 'executed']);
    const last = JSON.parse((await rig.run(['cache', 'gc', '--max-size', '300K', '--json'])).stdout) as { after: { bytes: number }; underLimit: boolean };
    assert.ok(last.underLimit && last.after.bytes <= 300 * 1024, `cache is ${last.after.bytes} bytes`);
    assert.deepEqual([...recordFiles(cache).keys()].sort(), fresh);
    assert.equal((await rig.run(['cache', 'verify'])).code, 0);
    for (const n of fresh) rig.write({ [`out-${n}.bin`]: '' });
    const again = await rig.run(['m.txt', '--json']);
    assert.deepEqual(Object.values(statuses(again.stdout)), ['cached', 'cached', 'cached', 'cached']);
  });

  it('[cache] max_cache_size_mb applies automatically after each run', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': randomTasks(['a', 'b', 'c'], 512) });
    assert.equal((await rig.run(['m.txt', '-q'])).code, 0);
    const cache = rig.path('.reprovm');
    age(cache, 2 * HOUR);
    rig.write({ 'm.txt': randomTasks(['d'], 512), 'reprovm.conf': '[cache]\nmax_cache_size_mb = 1\n' });
    const r = await rig.run(['m.txt', '-q']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([...recordFiles(cache).keys()], ['d']);
    assert.equal(objectFiles(cache).length, 1);
    const audit = readFileSync(path.join(cache, 'audit.log'), 'utf8');
    assert.match(audit, /"type":"cache.evicted".*"trigger":"auto"/);
  });
});

describe('cache verify', () => {
  it('finds a corrupt object and a dangling record; --repair fixes both; exit 1 while problems remain', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': randomTasks(['a', 'b', 'c'], 4) });
    assert.equal((await rig.run(['m.txt', '-q'])).code, 0);
    const cache = rig.path('.reprovm');
    const recs = recordFiles(cache);
    const digestOf = (t: string): string => (JSON.parse(readFileSync(recs.get(t)!, 'utf8')) as { outputs: { digest: string }[] }).outputs[0]!.digest;
    const objPath = (d: string): string => path.join(cache, 'cas', 'objects', d.slice(0, 2), d.slice(2));
    // a: flip a byte of its object; b: delete its object (record dangles).
    const aObj = objPath(digestOf('a'));
    const bytes = readFileSync(aObj);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    writeFileSync(aObj, bytes);
    const { rmSync } = await import('node:fs');
    rmSync(objPath(digestOf('b')));

    const check = await rig.run(['cache', 'verify', '--json']);
    assert.equal(check.code, 1);
    const rep = JSON.parse(check.stdout) as { problems: { kind: string; task?: string; repaired: boolean }[]; remaining: number };
    const kinds = rep.problems.map((p) => `${p.kind}${p.task ? `:${p.task}` : ''}`).sort();
    assert.deepEqual(kinds, ['corrupt-object', 'dangling-record:a', 'dangling-record:b']);
    assert.ok(existsSync(aObj), 'verify without --repair must not move anything');

    const fix = await rig.run(['cache', 'verify', '--repair']);
    assert.equal(fix.code, 0, fix.stdout);
    assert.match(fix.stdout, /repaired: object .* is corrupt/);
    assert.ok(!existsSync(aObj));
    assert.equal(readdirSync(path.join(cache, 'cas', 'quarantine')).length, 1);
    assert.deepEqual([...recordFiles(cache).keys()], ['c']);
    assert.equal((await rig.run(['cache', 'verify'])).code, 0);
    // The repaired cache simply re-runs what it lost.
    for (const t of ['a', 'b', 'c']) rmSync(rig.path(`out-${t}.bin`));
    const again = await rig.run(['m.txt', '--json']);
    assert.deepEqual(statuses(again.stdout), { a: 'executed', b: 'executed', c: 'cached' });
  });
});

describe('cache clean and stats', () => {
  it('stats counts objects, bytes, records and the hit rate of the last runs; clean removes everything', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': 'task a {\n  cmd = printf aaaa > a.txt; echo log\n  outputs = a.txt\n}\ntask b {\n  cmd = printf bbbbbbbb > b.txt\n  outputs = b.txt\n}\n' });
    assert.equal((await rig.run(['m.txt', '-q'])).code, 0);
    rig.write({ 'a.txt': 'gone' });
    assert.equal((await rig.run(['m.txt', '-q'])).code, 0); // a restored, b up to date: 2 hits
    const s = await rig.run(['cache', 'stats', '--json']);
    assert.equal(s.code, 0, s.stderr);
    const st = JSON.parse(s.stdout) as Record<string, unknown> & { recentRuns: { executed: number; cached: number }[]; quarantine: { objects: number } };
    assert.equal(st.objects, 3); // a.txt, b.txt, a's stdout
    assert.equal(st.uncompressedBytes, 4 + 8 + 4);
    assert.equal(st.records, 2);
    assert.ok((st.bytes as number) > 0);
    assert.equal(st.quarantine.objects, 0);
    assert.deepEqual(st.recentRuns.map((r) => [r.executed, r.cached]), [[2, 0], [0, 2]]);
    assert.equal(st.hitRate, 0.5);
    const text = await rig.run(['cache', 'stats']);
    assert.match(text.stdout, /objects: 3 /);
    assert.match(text.stdout, /hit rate of the last 2 runs: 50\.0%/);

    const c = await rig.run(['cache', 'clean', '--json']);
    assert.equal(c.code, 0, c.stderr);
    assert.deepEqual({ ...JSON.parse(c.stdout), bytesFreed: 0 }, { objectsRemoved: 3, recordsRemoved: 2, bytesFreed: 0 });
    const after = JSON.parse((await rig.run(['cache', 'stats', '--json'])).stdout) as Record<string, unknown>;
    assert.equal(after.objects, 0);
    assert.equal(after.records, 0);
    rig.write({ 'a.txt': 'x' });
    assert.equal(statuses((await rig.run(['m.txt', '--json'])).stdout).a, 'executed');
  });

  it('the original\'s flags: --stats, --verify-cache, --clean-cache work with a manifest', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': 'task a {\n  cmd = printf a > a.txt\n  outputs = a.txt\n}\n' });
    assert.equal((await rig.run(['m.txt', '-q'])).code, 0);
    const stats = await rig.run(['--stats', '--json', 'm.txt']);
    assert.equal(stats.code, 0, stats.stderr);
    assert.equal((JSON.parse(stats.stdout) as { records: number }).records, 1);
    assert.equal((await rig.run(['--verify-cache', 'm.txt'])).code, 0);
    const clean = await rig.run(['--clean-cache', 'm.txt']);
    assert.equal(clean.code, 0, clean.stderr);
    assert.match(clean.stdout, /removed 1 objects and 1 records/);
  });

  it('the original\'s flags with a manifest use the workspace\'s configured cache_dir, as a run does', async () => {
    const rig = newRig();
    rig.write({
      'ws/m.txt': 'task a {\n  cmd = printf a > a.txt\n  outputs = a.txt\n}\n',
      'ws/reprovm.conf': '[cache]\ncache_dir = ../shared\n',
    });
    assert.equal((await rig.run(['ws/m.txt', '-q'])).code, 0);
    assert.ok(existsSync(rig.path('shared/cache')) && !existsSync(rig.path('ws/.reprovm/cache')), 'the run used the shared cache');
    const stats = await rig.run(['--stats', '--json', 'ws/m.txt']);
    assert.equal(stats.code, 0, stats.stderr);
    const s = JSON.parse(stats.stdout) as { records: number; cacheDir: string };
    assert.deepEqual([s.cacheDir, s.records], [rig.path('shared'), 1]);
    assert.equal((await rig.run(['--verify-cache', 'ws/m.txt'])).code, 0);
    assert.ok(!existsSync(rig.path('ws/.reprovm/cache')), 'no cache made in the workspace');
  });
});

describe('--metrics FILE', () => {
  it('writes the run metrics as JSON', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': 'task a {\n  cmd = printf 12345 > a.txt\n  outputs = a.txt\n}\ntask b {\n  cmd = exit 3\n  deps = a\n}\ntask c {\n  cmd = true\n  deps = b\n}\n' });
    const r = await rig.run(['m.txt', '-q', '-k', '--metrics', 'metrics.json']);
    assert.equal(r.code, 1);
    const m = JSON.parse(rig.read('metrics.json')) as Record<string, unknown> & {
      tasks: Record<string, number>; durations: Record<string, unknown>; bytes: Record<string, number>; memory: Record<string, number>;
    };
    assert.equal(m.version, 1);
    assert.equal(m.exitCode, 1);
    assert.deepEqual(m.tasks, { total: 3, executed: 1, cached: 0, failed: 1, skipped: 1 });
    assert.equal(m.hitRate, 0);
    assert.equal(typeof m.durations.wallMs, 'number');
    assert.equal(typeof m.durations.executedMs, 'number');
    assert.deepEqual((m.durations.slowest as { task: string }[]).map((s) => s.task), ['a']);
    assert.deepEqual(m.bytes, { restored: 0, stored: 5 });
    assert.ok((m.memory.peakRssBytes ?? 0) > 1024 * 1024);
    rig.write({ 'a.txt': 'other' });
    await rig.run(['m.txt', '-q', '-k', '--metrics', 'metrics.json']);
    const m2 = JSON.parse(rig.read('metrics.json')) as { tasks: Record<string, number>; hitRate: number; bytes: Record<string, number> };
    assert.equal(m2.tasks.cached, 1);
    assert.equal(m2.hitRate, 1);
    assert.equal(m2.bytes.restored, 5);
  });
});
