import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { encodeHeader } from '../../src/cas/codec.js';
import type { RunEvent } from '../../src/events/events.js';
import { OBJECTS_ONLY, Rig, type RunResult } from '../helpers/rig.js';

/* Damaged and forged blobs in a shared directory remote, through the real CLI. */

const MANIFEST = `
task gen {
  cmd = mkdir -p out && printf 'generated %s\\n' "$(cat in.txt)" > out/gen.txt && echo built gen
  inputs = in.txt
  outputs = out/gen.txt
}
task pack {
  cmd = cat out/gen.txt > packed.txt && echo packed >> packed.txt
  inputs = out/gen.txt
  outputs = packed.txt
}
`;

const rigs: Rig[] = [];
after(() => {
  for (const r of rigs) r.cleanup();
});

function machine(): Rig {
  const rig = new Rig('reprovm-repair-', { env: OBJECTS_ONLY }); // damages blobs
  rigs.push(rig);
  rig.write({ 'manifest.txt': MANIFEST, 'in.txt': 'hello\n' });
  return rig;
}

type Finished = Extract<RunEvent, { type: 'task-finished' }>;

async function build(rig: Rig, flags: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ r: RunResult; done: Finished[] }> {
  const r = await rig.run(['--json', ...flags, 'manifest.txt'], { env });
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout.slice(0, 2000)}`);
  const evs = r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as RunEvent);
  return { r, done: evs.filter((e): e is Finished => e.type === 'task-finished') };
}

function blobFiles(remote: string): string[] {
  return readdirSync(path.join(remote, 'cas')).filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => path.join(remote, 'cas', n));
}

async function sharedRemote(): Promise<{ a: Rig; dir: string }> {
  const a = machine();
  const dir = a.path('shared-remote');
  assert.equal((await a.run(['cache', 'init-remote', '--remote', dir])).code, 0);
  const first = await build(a, ['--remote', dir]);
  assert.ok(first.done.every((f) => f.status === 'executed'));
  return { a, dir };
}

describe('a damaged remote cache heals', () => {
  test('a blob with a flipped byte is a corrupt miss, the re-run replaces it, the next machine restores', async () => {
    const { a, dir } = await sharedRemote();
    for (const f of blobFiles(dir)) {
      const bytes = readFileSync(f);
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff; // same size, wrong content
      writeFileSync(f, bytes);
    }
    const b = await build(machine(), ['--remote', dir]);
    assert.ok(b.done.some((f) => f.cache?.result === 'miss' && f.cache.reason === 'corrupt'), JSON.stringify(b.done.map((f) => f.cache)));
    assert.ok(b.done.every((f) => f.status === 'executed'));
    const c = machine();
    const restored = await build(c, ['--remote', dir]);
    assert.ok(restored.done.every((f) => f.cache?.result === "hit" && f.cache.source === "remote"), JSON.stringify(restored.done.map((f) => f.cache)) + b.r.stdout + b.r.stderr);
    assert.equal(c.read('packed.txt'), a.read('packed.txt'));
  });

  test('a forged blob header claiming a huge size is a corrupt miss, not a crash', async () => {
    const { dir } = await sharedRemote();
    const bomb = Buffer.concat([encodeHeader('zstd', 2 ** 40), Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0])]);
    for (const f of blobFiles(dir)) writeFileSync(f, bomb);
    const b = machine();
    const r = await build(b, ['--remote', dir]);
    assert.ok(r.done.some((f) => f.cache?.result === 'miss' && f.cache.reason === 'corrupt'));
    assert.ok(r.done.every((f) => f.status === 'executed'));
    assert.equal(b.read('packed.txt'), 'generated hello\npacked\n');
  });
});

describe('require_signature', () => {
  test('without a key it is an error only when a remote is in use', async () => {
    const rig = machine();
    rig.write({ 'reprovm.conf': '[remote]\nrequire_signature = true\n' });
    const local = await build(rig, []);
    assert.ok(local.done.every((f) => f.status === 'executed'));
    const off = await rig.run(['--remote', rig.path('r'), '--remote-mode', 'off', 'manifest.txt']);
    assert.equal(off.code, 0, off.stderr);
    const on = await rig.run(['--remote', rig.path('r'), 'manifest.txt']);
    assert.notEqual(on.code, 0);
    assert.match(on.stderr, /needs a signing key/);
  });
});

describe('cache push/pull/stats/verify against a directory remote', () => {
  test('mode off is named as such; pull --require-signature fails on unsigned records; stats/verify take --remote-endpoint', async () => {
    const { dir } = await sharedRemote();
    const b = machine();
    const cd = ['--cache-dir', b.path('.reprovm')];
    b.write({ 'reprovm.conf': `[remote]\nurl = ${dir}\nmode = off\n` });
    for (const cmd of ['push', 'pull']) {
      const off = await b.run(['cache', cmd, ...cd, '--remote', dir]);
      assert.equal(off.code, 2);
      assert.match(off.stderr, /the remote cache is off/);
      assert.doesNotMatch(off.stderr, /no remote cache configured/);
    }
    b.write({ 'reprovm.conf': `[remote]\nmode = ro\n` });

    const env = { REPROVM_CACHE_SIGNING_KEY: 'team-key' };
    const lax = await b.run(['cache', 'pull', ...cd, '--remote', dir], { env });
    assert.equal(lax.code, 0, lax.stderr);
    assert.match(lax.stderr, /warning: .*not signed/);
    const strict = await b.run(['cache', 'pull', ...cd, '--remote', dir, '--require-signature'], { env });
    assert.equal(strict.code, 1, strict.stdout + strict.stderr);
    assert.match(strict.stderr, /error: .*not signed/);

    for (const cmd of ['stats', 'verify']) {
      const r = await b.run(['cache', cmd, ...cd, '--remote', dir, '--remote-endpoint', 'http://127.0.0.1:9']);
      assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
    }
  });
});
