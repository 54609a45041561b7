import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ObjectStore } from '../../src/cas/object-store.js';
import type { FileDigest } from '../../src/hash/digest.js';
import type { RunEvent } from '../../src/events/events.js';
import { assertResidency, pageCacheSkip } from '../helpers/page-cache.js';
import { OBJECTS_ONLY, Rig, type RunResult } from '../helpers/rig.js';
import { S3RVER_ENV, startS3rver, type S3rverHandle } from '../helpers/s3rver.js';

/*
 * Two "machines" (two workspaces, each with its own local cache) sharing one s3rver bucket,
 * through the real CLI.
 */

const MANIFEST = `
task gen {
  cmd = mkdir -p out && printf 'generated %s\\n' "$(cat in.txt)" > out/gen.txt && head -c 3000000 /dev/zero | tr '\\0' 'x' > out/big.bin && echo built gen
  inputs = in.txt
  outputs = out/gen.txt, out/big.bin
}
task tool {
  cmd = printf '#!/bin/sh\\necho tool\\n' > tool.sh && chmod +x tool.sh
  outputs = tool.sh
}
task pack {
  cmd = cat out/gen.txt tool.sh > packed.txt && echo packed >&2
  inputs = out/gen.txt, tool.sh
  outputs = packed.txt
}
`;
const TASKS = ['gen', 'tool', 'pack'];

let server: S3rverHandle;
const rigs: Rig[] = [];
let bucketSeq = 0;

before(async () => {
  server = await startS3rver();
});
after(async () => {
  for (const r of rigs) r.cleanup();
  await server.stop();
});

function machine(env: NodeJS.ProcessEnv = {}): Rig {
  const rig = new Rig('reprovm-remote-', { env });
  rigs.push(rig);
  rig.write({ 'manifest.txt': MANIFEST, 'in.txt': 'hello\n' });
  return rig;
}

const baseEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...S3RVER_ENV,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  REPROVM_REMOTE_CONNECT_TIMEOUT_SECONDS: '2',
  REPROVM_REMOTE_REQUEST_TIMEOUT_SECONDS: '5',
  REPROVM_REMOTE_RETRIES: '1',
  ...extra,
});

/** A fresh bucket (so tests do not see each other's records) and its remote flags. */
async function bucket(): Promise<string[]> {
  const name = `reprovm-it-${process.pid}-${++bucketSeq}`;
  const rig = machine();
  const flags = ['--remote', `s3://${name}/team`, '--remote-endpoint', server.endpoint];
  const r = await rig.run(['cache', 'init-remote', ...flags], { env: baseEnv() });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /is ready/);
  return flags;
}

function events(r: RunResult): RunEvent[] {
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as RunEvent);
}

function finished(evs: RunEvent[]): Extract<RunEvent, { type: 'task-finished' }>[] {
  return evs.filter((e): e is Extract<RunEvent, { type: 'task-finished' }> => e.type === 'task-finished');
}

function warnings(evs: RunEvent[]): Extract<RunEvent, { type: 'warning' }>[] {
  return evs.filter((e): e is Extract<RunEvent, { type: 'warning' }> => e.type === 'warning');
}

async function build(rig: Rig, flags: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ r: RunResult; evs: RunEvent[] }> {
  const r = await rig.run(['--json', '-j', '4', ...flags, 'manifest.txt'], { env: baseEnv(env) });
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout.slice(0, 2000)}`);
  return { r, evs: events(r) };
}

/** Every object in a machine's local CAS decodes to its digest (nothing bad was imported). */
async function assertLocalCasClean(rig: Rig): Promise<number> {
  const store = new ObjectStore(rig.path('.reprovm'), { codec: 'zstd', level: 3 });
  let n = 0;
  for await (const d of store.list()) {
    const v = await store.verify(d as FileDigest);
    assert.ok(v.ok, `local object ${d} is bad`);
    n += 1;
  }
  assert.deepEqual(readdirSync(rig.path('.reprovm/cas/quarantine')), []);
  assert.deepEqual(readdirSync(rig.path('.reprovm/cas/tmp')), [], 'no temp or staged file left');
  await store.close();
  return n;
}

const OUTPUTS = ['out/gen.txt', 'out/big.bin', 'tool.sh', 'packed.txt'];

describe('remote cache on s3rver', () => {
  test('machine A builds and uploads; machine B restores everything from the remote without running a command', async () => {
    const flags = await bucket();
    const a = machine();
    const built = await build(a, flags);
    const uploads = built.evs.filter((e) => e.type === 'remote-transfer' && e.direction === 'upload');
    assert.deepEqual(uploads.map((e) => (e as { task: string }).task).sort(), [...TASKS].sort());
    const endA = built.evs.at(-1);
    assert.equal(endA?.type === 'run-finished' && endA.summary.remote?.recordsUploaded, 3);

    const b = machine();
    const restored = await build(b, flags);
    assert.equal(restored.evs.filter((e) => e.type === 'task-started').length, 0, 'no command ran on B');
    const fin = finished(restored.evs);
    assert.equal(fin.length, 3);
    for (const f of fin) {
      assert.equal(f.status, 'cached', f.task);
      assert.ok(f.cache?.result === 'hit' && f.cache.source === 'remote', JSON.stringify(f.cache));
      assert.ok(f.cache?.result === 'hit' && (f.cache.bytesDownloaded ?? 0) > 0);
    }
    for (const o of OUTPUTS) assert.deepEqual(readFileSync(b.path(o)), readFileSync(a.path(o)), o);
    assert.equal(readdirSync(b.dir).includes('tool.sh') && (await import('node:fs')).statSync(b.path('tool.sh')).mode & 0o111, 0o111);
    const replay = restored.evs.filter((e) => e.type === 'task-output' && e.replay).map((e) => (e as { line: string }).line);
    assert.ok(replay.includes('built gen') && replay.includes('packed'), 'captured output replayed from the remote');
    const endB = restored.evs.at(-1);
    assert.equal(endB?.type === 'run-finished' && endB.summary.remote?.hits, 3);
    assert.equal(warnings(restored.evs).length, 0);
    // The large output is an object; the small ones came inside their records.
    assert.ok((await assertLocalCasClean(b)) >= 1);

    // The human summary line carries the remote traffic.
    const c = machine();
    const human = await c.run([...flags, 'manifest.txt'], { env: baseEnv() });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /restored from the remote cache/);
    assert.match(human.stdout, /; remote: 3 hits, [\d.]+ (?:[KMG]i)?B down, 0 B up/);
  });

  test('a large output restored from the remote, or again from the local cache, bypasses the page cache; [cache] direct_io = off keeps it buffered', { skip: pageCacheSkip() }, async () => {
    const flags = await bucket();
    const manifest = 'task rand {\n  cmd = head -c 3000000 /dev/urandom > rand.bin\n  outputs = rand.bin\n}\n';
    const a = machine();
    a.write({ 'manifest.txt': manifest });
    await build(a, flags);
    const built = readFileSync(a.path('rand.bin'));
    for (const [env, direct] of [[{}, true], [{ REPROVM_CACHE_DIRECT_IO: 'off' }, false]] as const) {
      const b = machine();
      b.write({ 'manifest.txt': manifest });
      const fromRemote = await build(b, flags, env);
      const hitR = finished(fromRemote.evs)[0]?.cache;
      assert.ok(hitR?.result === 'hit' && hitR.source === 'remote', JSON.stringify(hitR));
      const what = direct ? 'by default' : 'with direct_io = off';
      assertResidency(b.path('rand.bin'), direct, `restored from the remote ${what}`);
      assert.ok(readFileSync(b.path('rand.bin')).equals(built));
      rmSync(b.path('rand.bin'));
      const fromLocal = await build(b, flags, env);
      const hitL = finished(fromLocal.evs)[0]?.cache;
      assert.ok(hitL?.result === 'hit' && hitL.source === 'local', JSON.stringify(hitL));
      assertResidency(b.path('rand.bin'), direct, `restored from the local cache ${what}`);
      assert.ok(readFileSync(b.path('rand.bin')).equals(built));
      await assertLocalCasClean(b);
    }
  });

  test('ro never writes, off ignores the remote', async () => {
    const flags = await bucket();
    const a = machine();
    const ro = await build(a, [...flags, '--remote-mode', 'ro']);
    assert.equal(ro.evs.filter((e) => e.type === 'remote-transfer').length, 0);
    const b = machine();
    const second = await build(b, flags);
    assert.equal(finished(second.evs).filter((f) => f.status === 'executed').length, 3, 'nothing was in the remote');

    const c = machine();
    const off = await build(c, ['--remote', 's3://no-such-bucket-x/p', '--remote-endpoint', 'http://127.0.0.1:9', '--remote-mode', 'off']);
    assert.equal(warnings(off.evs).length, 0);
    assert.equal(off.evs.filter((e) => e.type === 'remote-transfer').length, 0);
  });

  test('signing: signed round trip, wrong key and unsigned records rejected, --require-signature', async () => {
    const flags = await bucket();
    const a = machine();
    await build(a, flags, { REPROVM_CACHE_SIGNING_KEY: 'k-one' });

    const b = machine();
    const ok = await build(b, [...flags, '--require-signature'], { REPROVM_CACHE_SIGNING_KEY: 'k-one' });
    assert.ok(finished(ok.evs).every((f) => f.cache?.result === 'hit' && f.cache.source === 'remote'));

    const c = machine();
    const bad = await build(c, flags, { REPROVM_CACHE_SIGNING_KEY: 'k-two' });
    const fin = finished(bad.evs);
    assert.ok(fin.every((f) => f.status === 'executed'), 'nothing restored with the wrong key');
    assert.ok(fin.some((f) => f.cache?.result === 'miss' && f.cache.reason === 'signature'));
    const sig = warnings(bad.evs).filter((w) => w.remote?.kind === 'signature');
    assert.equal(sig.length, 1);
    assert.deepEqual(readdirSync(c.path('.reprovm/cas/quarantine')), []);

    // Nobody replaces the team's records: not C's run above (other key), nor its push, nor a
    // forced run and a push without any key. A's signed records still verify everywhere.
    const pushC = await c.run(['cache', 'push', ...flags, '--cache-dir', '.reprovm', '--json'], { env: baseEnv({ REPROVM_CACHE_SIGNING_KEY: 'k-two' }) });
    assert.equal(pushC.code, 0, pushC.stderr);
    assert.deepEqual(JSON.parse(pushC.stdout), { pushed: 0, present: 3, failed: 0, unknown: 0, blobs: 0, bytes: 0 });
    const forced = await build(machine(), [...flags, '--force']);
    assert.equal(forced.evs.filter((e) => e.type === 'remote-transfer').length, 0, 'a forced run uploads no record that is already there');
    const again = await build(machine(), [...flags, '--require-signature'], { REPROVM_CACHE_SIGNING_KEY: 'k-one' });
    assert.ok(finished(again.evs).every((f) => f.cache?.result === 'hit' && f.cache.source === 'remote'), 'A\'s records are unchanged');

    const unsignedFlags = await bucket();
    await build(machine(), unsignedFlags);
    const d = machine();
    const unsigned = await build(d, unsignedFlags, { REPROVM_CACHE_SIGNING_KEY: 'k-one' });
    assert.ok(finished(unsigned.evs).every((f) => f.status === 'executed'));

    const e = machine();
    const usage = await e.run([...flags, '--require-signature', 'manifest.txt'], { env: baseEnv() });
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--require-signature needs a signing key: set REPROVM_CACHE_SIGNING_KEY/);
  });

  test('wrong credentials: one "remote auth failed" warning, the build succeeds', async () => {
    const flags = await bucket();
    const a = machine();
    const r = await build(a, flags, { AWS_ACCESS_KEY_ID: 'WRONG', AWS_SECRET_ACCESS_KEY: 'WRONG' });
    const auth = warnings(r.evs).filter((w) => w.remote?.kind === 'auth');
    assert.equal(auth.length, 1, JSON.stringify(warnings(r.evs)));
    assert.match(auth[0]!.message, /^remote auth failed: /);
    assert.doesNotMatch(r.r.stdout + r.r.stderr, /WRONG/);
    for (const o of OUTPUTS) assert.ok(a.exists(o));
  });

  test('a bucket that does not exist: one warning in a run; an error for push', async () => {
    const flags = ['--remote', `s3://missing-${process.pid}/p`, '--remote-endpoint', server.endpoint];
    const a = machine();
    const r = await build(a, flags);
    const nb = warnings(r.evs).filter((w) => w.remote?.kind === 'no-bucket');
    assert.equal(nb.length, 1, JSON.stringify(warnings(r.evs)));
    assert.match(nb[0]!.message, /init-remote/);
    const push = await a.run(['cache', 'push', ...flags], { env: baseEnv() });
    assert.equal(push.code, 1);
    assert.match(push.stderr, /reprovm: error: .*bucket does not exist/);
  });

  test('cache push then cache pull move everything; pulled records restore locally', async () => {
    const flags = await bucket();
    const a = machine();
    await build(a, []); // no remote: local cache only
    const push = await a.run(['cache', 'push', ...flags, '--cache-dir', '.reprovm'], { env: baseEnv() });
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stdout, /cache push: 3 tasks pushed \(\d+ blobs uploaded, [\d.]+ MB\)/);
    const again = await a.run(['cache', 'push', ...flags, '--cache-dir', '.reprovm', '--json'], { env: baseEnv() });
    assert.equal((JSON.parse(again.stdout) as { blobs: number }).blobs, 0, 'present blobs are not uploaded again');

    const b = machine();
    const pull = await b.run(['cache', 'pull', ...flags, 'manifest.txt'], { env: baseEnv() });
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, /cache pull: 3 tasks pulled/);
    const local = await build(b, []);
    assert.ok(finished(local.evs).every((f) => f.cache?.result === 'hit' && f.cache.source === 'local'));
    for (const o of OUTPUTS) assert.deepEqual(readFileSync(b.path(o)), readFileSync(a.path(o)), o);

    const c = machine();
    const all = await c.run(['cache', 'pull', ...flags, '--cache-dir', path.join(c.dir, '.reprovm'), '--json'], { env: baseEnv() });
    assert.equal(all.code, 0, all.stderr);
    assert.equal((JSON.parse(all.stdout) as { pulled: number }).pulled, 3);
  });

  test('a directory remote: cache stats --remote and cache verify --remote find corrupt and missing blobs', async () => {
    const a = machine(OBJECTS_ONLY);
    const dir = a.path('shared-remote');
    assert.equal((await a.run(['cache', 'init-remote', '--remote', dir], { env: baseEnv() })).code, 0);
    await build(a, ['--remote', dir]);
    const cd = ['--cache-dir', a.path('.reprovm')];
    const stats = await a.run(['cache', 'stats', ...cd, '--remote', dir, '--json'], { env: baseEnv() });
    assert.equal(stats.code, 0, stats.stderr);
    const remote = (JSON.parse(stats.stdout) as { remote: { objects: number; records: number } }).remote;
    assert.equal(remote.records, 3);
    assert.ok(remote.objects >= 4);
    const clean = await a.run(['cache', 'verify', ...cd, '--remote', dir], { env: baseEnv() });
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, /3 records checked .*, 0 problems/);

    const blobs = readdirSync(path.join(dir, 'cas')).filter((n) => /^[0-9a-f]{64}$/.test(n));
    const { writeFileSync, unlinkSync } = await import('node:fs');
    const victim = path.join(dir, 'cas', blobs[0]!);
    const bytes = readFileSync(victim);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    writeFileSync(victim, bytes);
    unlinkSync(path.join(dir, 'cas', blobs[1]!));
    const bad = await a.run(['cache', 'verify', ...cd, '--remote', dir, '--json'], { env: baseEnv({ REPROVM_CACHE_SIGNING_KEY: 'k' }) });
    assert.equal(bad.code, 1);
    const kinds = new Set((JSON.parse(bad.stdout) as { problems: { kind: string }[] }).problems.map((p) => p.kind));
    assert.deepEqual([...kinds].sort(), ['corrupt-blob', 'missing-blob', 'unsigned-record']);

    // A run against the damaged remote still succeeds; nothing bad is imported.
    const b = machine();
    const r = await build(b, ['--remote', dir]);
    assert.ok(finished(r.evs).some((f) => f.status === 'executed'));
    await assertLocalCasClean(b);
    for (const o of OUTPUTS) assert.ok(b.exists(o));
  });

  test('the remote comes from reprovm.conf too; a flag wins over it', async () => {
    const a = machine();
    const dir = a.path('conf-remote');
    assert.equal((await a.run(['cache', 'init-remote', '--remote', dir], { env: baseEnv() })).code, 0);
    a.write({ 'reprovm.conf': `[remote]\nurl = ${dir}\nmode = rw\n` });
    const built = await build(a, []);
    assert.equal(built.evs.filter((e) => e.type === 'remote-transfer').length, 3);
    const b = machine();
    b.write({ 'reprovm.conf': `[remote]\nurl = ${dir}\n` });
    const restored = await build(b, []);
    assert.ok(finished(restored.evs).every((f) => f.cache?.result === 'hit' && f.cache.source === 'remote'));
    const c = machine();
    c.write({ 'reprovm.conf': `[remote]\nurl = ${dir}\n` });
    const off = await build(c, ['--remote-mode', 'off']);
    assert.ok(finished(off.evs).every((f) => f.status === 'executed'));
  });
});
