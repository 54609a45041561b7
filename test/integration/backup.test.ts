import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { compress, decompress } from 'zstd-napi';
import { OBJECTS_ONLY, rigsRemovedAfter, statuses, type Rig } from '../helpers/rig.js';
import { S3RVER_ENV, startS3rver } from '../helpers/s3rver.js';

const newRig = rigsRemovedAfter('reprovm-backup-', { env: OBJECTS_ONLY }); // backups are about objects

const task = (n: string, content: string): string => `task ${n} {\n  cmd = printf '${content}' > ${n}.txt; echo built ${n}\n  outputs = ${n}.txt\n}\n`;
type Listed = { name: string; kind: string; parent: string | null; objects: number; problem?: string };

async function okRun(rig: Rig, args: string[]): Promise<string> {
  const r = await rig.run(args);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function list(rig: Rig, from: string): Promise<Listed[]> {
  const r = await rig.run(['backup', 'list', '--from', from, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Listed[];
}

/** Every file under dir (relative) with its bytes, to prove a directory was left untouched. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const p = path.join(rel, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(p, readFileSync(path.join(dir, p)).toString('base64'));
    }
  };
  walk('');
  return out;
}

describe('reprovm backup', () => {
  it('backup → wipe → restore → verify, and the next run is fully cached', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': task('a', 'alpha') + task('b', 'beta') + task('c', 'gamma') });
    await okRun(rig, ['m.txt', '-q']);
    // Left by a backup that was killed (its pid is gone): swept by the next one.
    const leftover = rig.path(`.reprovm/.backup-staging-${2 ** 22 + 4242}-deadbeef`);
    mkdirSync(path.join(leftover, 'cas'), { recursive: true });
    const created = await rig.run(['backup', 'create', '--to', 'bk', '--json']);
    assert.equal(created.code, 0, created.stderr);
    const c = JSON.parse(created.stdout) as { name: string; kind: string; objectsStored: number; records: number };
    assert.equal(c.kind, 'full');
    assert.equal(c.records, 3);
    assert.equal(c.objectsStored, 6); // three outputs, three captured stdouts
    assert.ok(existsSync(rig.path(`bk/backups/${c.name}.tar.zst`)));
    assert.ok(!existsSync(leftover), 'the dead backup\'s staging directory was swept');

    // The archive is a plain zstd-compressed tar whose first entry is the manifest.
    const listed = await list(rig, 'bk');
    assert.deepEqual(listed.map((b) => [b.name, b.kind, b.objects]), [[c.name, 'full', 6]]);
    const v = await rig.run(['backup', 'verify', c.name, '--from', 'bk']);
    assert.equal(v.code, 0, v.stderr);

    assert.match(readFileSync(rig.path('.reprovm/audit.log'), 'utf8'), /"type":"backup.created"/);
    rmSync(rig.path('.reprovm'), { recursive: true });
    for (const t of ['a', 'b', 'c']) rmSync(rig.path(`${t}.txt`));
    const restored = await rig.run(['backup', 'restore', c.name, '--from', 'bk', '--json']);
    assert.equal(restored.code, 0, restored.stderr);
    const rr = JSON.parse(restored.stdout) as { objects: number; records: number; restoredFiles: string[] };
    assert.deepEqual([rr.objects, rr.records], [6, 3]);
    assert.deepEqual(rr.restoredFiles, ['audit.log']);
    assert.equal((await rig.run(['cache', 'verify'])).code, 0);
    const run = await rig.run(['m.txt', '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(statuses(run.stdout), { a: 'cached', b: 'cached', c: 'cached' });
    assert.equal(rig.read('b.txt'), 'beta');
    // The restored audit log is the backup's copy, continued by the restore's own entry.
    const audit = readFileSync(rig.path('.reprovm/audit.log'), 'utf8');
    assert.match(audit, /"type":"backup.restored"/);
    assert.equal((await rig.run(['audit', 'verify'])).code, 0);
  });

  it('incremental chain: only new objects, restore of the tip needs the chain; prune keeps the newest fulls and their incrementals', async () => {
    const rig = newRig();
    const bk = rig.path('bk');
    rig.write({ 'm.txt': task('a', 'one') });
    await okRun(rig, ['m.txt', '-q']);
    const full1 = JSON.parse(await okRun(rig, ['backup', 'create', '--to', bk, '--json'])) as { name: string; objectsStored: number };
    rig.write({ 'm.txt': task('a', 'one') + task('b', 'two') });
    await okRun(rig, ['m.txt', '-q']);
    const inc1 = JSON.parse(await okRun(rig, ['backup', 'create', '--incremental', '--to', bk, '--json'])) as { name: string; kind: string; parent: string; objectsStored: number; objectsTotal: number };
    assert.equal(inc1.kind, 'incremental');
    assert.equal(inc1.parent, full1.name);
    assert.deepEqual([inc1.objectsStored, inc1.objectsTotal], [2, 4]);
    rig.write({ 'm.txt': task('a', 'one') + task('b', 'two') + task('c', 'three') });
    await okRun(rig, ['m.txt', '-q']);
    const inc2 = JSON.parse(await okRun(rig, ['backup', 'create', '--incremental', '--to', bk, '--json'])) as { name: string; parent: string; objectsStored: number };
    assert.equal(inc2.parent, inc1.name);
    assert.equal(inc2.objectsStored, 2);

    // Restore the tip of the chain into a fresh directory: everything is there.
    const into = rig.path('restored');
    const r = await rig.run(['backup', 'restore', inc2.name, '--from', bk, '--into', into, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { chain: string[] }).chain, [full1.name, inc1.name, inc2.name]);
    for (const t of ['a', 'b', 'c']) rmSync(rig.path(`${t}.txt`));
    const run = await rig.run(['m.txt', '--json', '--cache-dir', into]);
    assert.deepEqual(statuses(run.stdout), { a: 'cached', b: 'cached', c: 'cached' });

    // A second full backup with one incremental on top; prune --keep 1 drops the first chain.
    const full2 = JSON.parse(await okRun(rig, ['backup', 'create', '--to', bk, '--json'])) as { name: string };
    rig.write({ 'm.txt': task('a', 'one') + task('d', 'four') });
    await okRun(rig, ['m.txt', '-q']);
    const inc3 = JSON.parse(await okRun(rig, ['backup', 'create', '--incremental', '--to', bk, '--json'])) as { name: string; parent: string };
    assert.equal(inc3.parent, full2.name);
    const dry = await rig.run(['backup', 'prune', '--keep', '1', '--from', bk, '--dry-run', '--json']);
    assert.deepEqual((JSON.parse(dry.stdout) as { deleted: string[] }).deleted, [full1.name, inc1.name, inc2.name]);
    assert.equal((await list(rig, bk)).length, 5, 'a dry run deletes nothing');
    const pruned = await rig.run(['backup', 'prune', '--keep', '1', '--from', bk]);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.deepEqual((await list(rig, bk)).map((b) => b.name), [full2.name, inc3.name]);
    const v3 = await rig.run(['backup', 'verify', inc3.name, '--from', bk]);
    assert.equal(v3.code, 0, v3.stderr);
    // An incremental whose parent is gone is refused.
    rmSync(path.join(bk, 'backups', `${full2.name}.tar.zst`));
    const broken = await rig.run(['backup', 'verify', inc3.name, '--from', bk]);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /needs .*-full, which is missing \(chain broken\)/);
  });

  it('a corrupted backup is refused and the cache is left untouched', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': task('a', 'x'.repeat(3000)) + task('b', 'y'.repeat(3000)) });
    await okRun(rig, ['m.txt', '-q']);
    const b = JSON.parse(await okRun(rig, ['backup', 'create', '--to', 'bk', '--json'])) as { name: string };
    const file = rig.path(`bk/backups/${b.name}.tar.zst`);
    // Change the cache after the backup, so a restore would visibly change it.
    rig.write({ 'm.txt': task('a', 'x'.repeat(3000)) + task('b', 'y'.repeat(3000)) + task('c', 'z') });
    await okRun(rig, ['m.txt', '-q']);
    const cacheDir = rig.path('.reprovm');
    const before = snapshot(cacheDir);

    // 1. A flipped byte in the compressed stream.
    const good = readFileSync(file);
    const bad = Buffer.from(good);
    const mid = Math.floor(bad.length / 2);
    bad[mid] = bad[mid]! ^ 0x55;
    writeFileSync(file, bad);
    const r1 = await rig.run(['backup', 'restore', b.name, '--from', 'bk']);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, new RegExp(`reprovm: error: backup ${b.name}`));
    const v1 = await rig.run(['backup', 'verify', b.name, '--from', 'bk']);
    assert.equal(v1.code, 1);

    // 2. A truncated archive (a torn upload).
    writeFileSync(file, good.subarray(0, Math.floor(good.length * 0.7)));
    const r2 = await rig.run(['backup', 'restore', b.name, '--from', 'bk']);
    assert.equal(r2.code, 1);

    // 3. Valid compression around a broken tar header (the unpacker fails while it is being fed).
    const tarBytes = decompress(good);
    const manifestSize = parseInt(tarBytes.subarray(124, 136).toString('latin1'), 8);
    const second = 512 + Math.ceil(manifestSize / 512) * 512; // the header after BACKUP.json
    tarBytes[second] = tarBytes[second]! ^ 0x01; // its checksum no longer matches
    writeFileSync(file, compress(tarBytes));
    const r3 = await rig.run(['backup', 'restore', b.name, '--from', 'bk']);
    assert.equal(r3.code, 1, r3.stderr);
    assert.match(r3.stderr, new RegExp(`^reprovm: error: backup ${b.name} is not a valid archive`, 'm'));
    assert.doesNotMatch(r3.stderr, /\n\s+at /, 'no stack trace');

    const afterSnap = snapshot(cacheDir);
    afterSnap.delete('audit.log');
    before.delete('audit.log');
    assert.deepEqual([...afterSnap.keys()].sort(), [...before.keys()].sort());
    for (const [k, v] of before) assert.equal(afterSnap.get(k), v, `${k} changed`);
    assert.ok(!readdirSync(cacheDir).some((n) => n.startsWith('.restore-')), 'no restore leftovers');
    const run = await rig.run(['m.txt', '--json']);
    assert.deepEqual(statuses(run.stdout), { a: 'cached', b: 'cached', c: 'cached' });
  });

  it('restores the archived config beside the cache (reprovm.conf.restored), never where it would override the config in effect', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': task('a', 'alpha'), 'etc/reprovm.conf': '# site config\n[backup]\nincremental = false\n' });
    const env = { REPROVM_SYSTEM_CONFIG: rig.path('etc/reprovm.conf') };
    assert.equal((await rig.run(['m.txt', '-q'], { env })).code, 0);
    const created = await rig.run(['backup', 'create', '--to', 'bk', '--json'], { env });
    assert.equal(created.code, 0, created.stderr);
    const { name } = JSON.parse(created.stdout) as { name: string };
    rmSync(rig.path('.reprovm'), { recursive: true });
    const restored = await rig.run(['backup', 'restore', name, '--from', 'bk'], { env });
    assert.equal(restored.code, 0, restored.stderr);
    assert.ok(!existsSync(rig.path('.reprovm/reprovm.conf')), 'no config placed where it would come before the system config');
    assert.equal(readFileSync(rig.path('.reprovm/reprovm.conf.restored'), 'utf8'), rig.read('etc/reprovm.conf'));
    assert.match(restored.stdout, /config was written to .*reprovm\.conf\.restored \(not in effect/);
  });

  it('a config taken from <cache>/reprovm.conf goes back there when the target has none', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': task('a', 'alpha'), '.reprovm/reprovm.conf': '# workspace cache config\n' });
    await okRun(rig, ['m.txt', '-q']);
    const { name } = JSON.parse(await okRun(rig, ['backup', 'create', '--to', 'bk', '--json'])) as { name: string };
    rmSync(rig.path('.reprovm'), { recursive: true });
    const r = JSON.parse(await okRun(rig, ['backup', 'restore', name, '--from', 'bk', '--json'])) as { restoredFiles: string[] };
    assert.ok(r.restoredFiles.includes('reprovm.conf'), JSON.stringify(r));
    assert.equal(rig.read('.reprovm/reprovm.conf'), '# workspace cache config\n');
  });

  it('list / verify / restore / prune --from a missing directory: a clear error, exit 2, nothing created', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': task('a', 'alpha') });
    await okRun(rig, ['m.txt', '-q']);
    for (const args of [['list'], ['verify', '20261122T021500123Z-full'], ['restore', '20261122T021500123Z-full'], ['prune', '--keep', '1']]) {
      const r = await rig.run(['backup', ...args, '--from', 'bakcups']);
      assert.equal(r.code, 2, `${args[0]}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /^reprovm: error: backup location .*bakcups does not exist: check --from or \[backup\] location\n$/);
      assert.ok(!existsSync(rig.path('bakcups')), `${args[0]} created the directory`);
    }
    // With no location chosen, the default <cache_dir>/backups may just not exist yet.
    const dflt = await rig.run(['backup', 'list']);
    assert.equal(dflt.code, 0, dflt.stderr);
    assert.match(dflt.stdout, /no backups/);
  });

  it('backs up to and restores from an S3 bucket (s3rver on loopback) through the same BlobStore interface', async () => {
    const rig = newRig();
    const s3 = await startS3rver();
    try {
      const env = { ...S3RVER_ENV, REPROVM_REMOTE_ENDPOINT: s3.endpoint };
      rig.write({ 'm.txt': task('a', 'alpha') + task('b', 'beta') });
      await okRun(rig, ['m.txt', '-q']);
      const init = await rig.run(['cache', 'init-remote', '--remote', 's3://backups-bucket/ci', '--remote-endpoint', s3.endpoint], { env });
      assert.equal(init.code, 0, init.stderr);
      const created = await rig.run(['backup', 'create', '--to', 's3://backups-bucket/ci', '--json'], { env });
      assert.equal(created.code, 0, created.stderr);
      const name = (JSON.parse(created.stdout) as { name: string }).name;
      const listed = await rig.run(['backup', 'list', '--from', 's3://backups-bucket/ci', '--json'], { env });
      assert.deepEqual((JSON.parse(listed.stdout) as Listed[]).map((b) => b.name), [name]);
      rmSync(rig.path('.reprovm'), { recursive: true });
      rmSync(rig.path('a.txt'));
      const restored = await rig.run(['backup', 'restore', name, '--from', 's3://backups-bucket/ci'], { env });
      assert.equal(restored.code, 0, restored.stderr);
      const run = await rig.run(['m.txt', '--json']);
      assert.deepEqual(statuses(run.stdout), { a: 'cached', b: 'cached' });
      assert.ok(!restored.stdout.includes('S3RVER') && !restored.stderr.includes('S3RVER'), 'credentials are never printed');
    } finally {
      await s3.stop();
    }
  });

  it('secrets in the configuration and environment appear in no backup manifest, output, audit entry or metrics file', async () => {
    const rig = newRig();
    const canary = 'CANARY-5ecret-9f2c';
    rig.write({
      'm.txt': task('a', 'alpha'),
      'reprovm.conf': `[notifications]\non = never\nwebhook_url = https://hooks.example.invalid/${canary}\nwebhook_secret = ${canary}-hmac\n[backup]\nlocation = bk\n`,
    });
    const env = { REPROVM_CACHE_SIGNING_KEY: `${canary}-signing` };
    const run = await rig.run(['m.txt', '-q', '--metrics', 'metrics.json'], { env });
    assert.equal(run.code, 0, run.stderr);
    const created = await rig.run(['backup', 'create', '--json'], { env });
    assert.equal(created.code, 0, created.stderr);
    const name = (JSON.parse(created.stdout) as { name: string }).name;
    const outputs = [run.stdout, run.stderr, created.stdout, created.stderr];
    for (const args of [['backup', 'list'], ['backup', 'verify', name], ['cache', 'stats'], ['health']]) {
      const r = await rig.run(args, { env });
      outputs.push(r.stdout, r.stderr);
    }
    const { decompress } = await import('zstd-napi');
    const tarBytes = decompress(readFileSync(rig.path(`bk/backups/${name}.tar.zst`)));
    const firstName = tarBytes.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    const firstSize = parseInt(tarBytes.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim(), 8);
    assert.equal(firstName, 'BACKUP.json');
    const manifest = tarBytes.subarray(512, 512 + firstSize).toString('utf8');
    assert.match(manifest, /"reprovm-backup"/);
    for (const [what, text] of [['manifest', manifest], ['metrics', rig.read('metrics.json')], ['audit log', rig.read('.reprovm/audit.log')], ['output', outputs.join('\n')]] as const) {
      assert.ok(!text.includes(canary), `the secret leaked into the ${what}`);
    }
  });

  it('[backup] auto_backup takes a backup after a successful run, at most once per min_interval, and prunes', async () => {
    const rig = newRig();
    rig.write({
      'm.txt': task('a', 'a'),
      'reprovm.conf': '[backup]\nauto_backup = 1\nmin_interval = 1h\nkeep = 1\nlocation = auto-bk\n',
    });
    await okRun(rig, ['m.txt', '-q']);
    const first = await list(rig, rig.path('auto-bk'));
    assert.deepEqual(first.map((b) => b.kind), ['full']);
    rig.write({ 'm.txt': task('a', 'a') + task('b', 'b') });
    await okRun(rig, ['m.txt', '-q']);
    assert.equal((await list(rig, rig.path('auto-bk'))).length, 1, 'min_interval not respected');
    // A failed run never takes a backup.
    rig.write({ 'reprovm.conf': '[backup]\nauto_backup = 1\nmin_interval = 0\nkeep = 1\nlocation = auto-bk\n', 'm.txt': 'task f {\n  cmd = exit 1\n}\n' });
    assert.equal((await rig.run(['m.txt', '-q'])).code, 1);
    assert.equal((await list(rig, rig.path('auto-bk'))).length, 1);
    rig.write({ 'm.txt': task('a', 'a') + task('b', 'b') + task('c', 'c') });
    await okRun(rig, ['m.txt', '-q']);
    const second = await list(rig, rig.path('auto-bk'));
    assert.deepEqual(second.map((b) => [b.kind, b.parent]), [['full', null], ['incremental', first[0]!.name]]);
    assert.ok(statSync(rig.path('.reprovm/audit.log')).size > 0);
  });
});
