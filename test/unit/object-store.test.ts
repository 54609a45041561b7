import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { HEADER_SIZE, parseHeader, type CodecName } from '../../src/cas/codec.js';
import { HashPool } from '../../src/cas/hash-pool.js';
import { ObjectStore } from '../../src/cas/object-store.js';
import type { FileDigest } from '../../src/hash/digest.js';
import { assertResidency, pageCacheSkip } from '../helpers/page-cache.js';
import { MOUNT_SKIP, withMount } from '../helpers/scratch-mount.js';

const sha = (b: Buffer): FileDigest => createHash('sha256').update(b).digest('hex') as FileDigest;

function compressible(n: number): Buffer {
  const line = Buffer.from('export const value = "reprovm object store test";\n');
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += line.length) line.copy(out, i);
  return out;
}

let dir = '';
let root = '';

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reprovm-cas-'));
  root = join(dir, 'cache');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function openStore(codec: CodecName = 'zstd'): Promise<ObjectStore> {
  const store = new ObjectStore(root, { codec, level: 3 });
  await store.init();
  return store;
}

async function quarantined(): Promise<string[]> {
  return readdir(join(root, 'cas', 'quarantine'));
}

async function tmpLeft(): Promise<string[]> {
  return readdir(join(root, 'cas', 'tmp'));
}

/** Flip one payload byte in place (objects are stored read-only). */
async function flipByte(path: string, offsetFromEnd: number): Promise<void> {
  await chmod(path, 0o644);
  const b = await readFile(path);
  const i = Math.max(HEADER_SIZE, b.length - offsetFromEnd);
  b[i]! ^= 0x5a;
  await writeFile(path, b);
}

const SAMPLES: ReadonlyArray<readonly [string, () => Buffer]> = [
  ['empty', () => Buffer.alloc(0)],
  ['small', () => Buffer.from('hello\n')],
  ['3 MiB random', () => randomBytes(3 * 1024 * 1024)],
  ['3 MiB compressible', () => compressible(3 * 1024 * 1024 + 3)],
];

for (const codec of ['zstd', 'lz4', 'none'] as const) {
  describe(`ObjectStore round trips (${codec})`, () => {
    for (const [name, make] of SAMPLES) {
      it(`putFile → restoreTo / getBuffer: ${name}`, async () => {
        const store = await openStore(codec);
        const raw = make();
        const src = join(dir, 'src.bin');
        await writeFile(src, raw);
        const put = await store.putFile(src);
        assert.ok(put.ok, put.ok ? '' : put.error.message);
        assert.deepEqual(put.value, { digest: sha(raw), size: raw.length, stored: true });
        const header = parseHeader(await readFile(store.objectPath(put.value.digest)));
        assert.ok(header.ok && header.value.codec === codec && header.value.size === raw.length);

        const again = await store.putFile(src);
        assert.ok(again.ok && again.value.stored === false);
        const viaBuffer = await store.putBuffer(raw);
        assert.ok(viaBuffer.ok && viaBuffer.value.stored === false && viaBuffer.value.digest === sha(raw));

        const dest = join(dir, 'out', 'restored.bin');
        const restored = await store.restoreTo(put.value.digest, dest, 0o644);
        assert.ok(restored.ok, restored.ok ? '' : restored.error.message);
        assert.equal(restored.value.bytes, raw.length);
        assert.ok((await readFile(dest)).equals(raw));
        const got = await store.getBuffer(put.value.digest);
        assert.ok(got.ok && got.value.equals(raw));
        assert.deepEqual(await store.verify(put.value.digest), { ok: true, value: undefined });
        assert.deepEqual(await tmpLeft(), []);
      });
    }
  });
}

describe('ObjectStore', () => {
  it('reads a store with mixed codecs', async () => {
    const blobs = new Map<CodecName, Buffer>([
      ['zstd', compressible(2_000_000)],
      ['lz4', compressible(2_000_001)],
      ['none', Buffer.from('plain')],
    ]);
    for (const [codec, raw] of blobs) assert.ok((await (await openStore(codec)).putBuffer(raw)).ok);
    const reader = await openStore('zstd');
    for (const [codec, raw] of blobs) {
      const got = await reader.getBuffer(sha(raw));
      assert.ok(got.ok && got.value.equals(raw), codec);
      const dest = join(dir, `r-${codec}`);
      assert.ok((await reader.restoreTo(sha(raw), dest, 0o644)).ok);
      assert.ok((await readFile(dest)).equals(raw));
    }
    assert.deepEqual((await reader.stats()).objects, 3);
    const listed: string[] = [];
    for await (const d of reader.list()) listed.push(d);
    assert.deepEqual(listed, [...blobs.values()].map(sha).sort());
  });

  it('reports a missing object as missing', async () => {
    const store = await openStore();
    const d = sha(Buffer.from('nope'));
    const got = await store.getBuffer(d);
    assert.ok(!got.ok && got.error.kind === 'missing');
    const r = await store.restoreTo(d, join(dir, 'x'), 0o644);
    assert.ok(!r.ok && r.error.kind === 'missing');
    assert.equal(await store.has(d), false);
  });

  for (const [label, size] of [['small', 5000], ['large', 3 * 1024 * 1024]] as const) {
    it(`quarantines a ${label} object with a flipped byte, and a later put heals it`, async () => {
      const store = await openStore('zstd');
      const raw = randomBytes(size);
      const put = await store.putBuffer(raw);
      assert.ok(put.ok);
      const path = store.objectPath(put.value.digest);
      await flipByte(path, 1000);
      const got = await store.getBuffer(put.value.digest);
      assert.ok(!got.ok && got.error.kind === 'corrupt', 'corrupt');
      assert.equal(await store.has(put.value.digest), false);
      const q = await quarantined();
      assert.equal(q.length, 1);
      assert.ok(q[0]!.startsWith(put.value.digest));
      const healed = await store.putBuffer(raw);
      assert.ok(healed.ok && healed.value.stored);
      const again = await store.getBuffer(put.value.digest);
      assert.ok(again.ok && again.value.equals(raw));
    });

    it(`restoreTo never leaves a partial file when a ${label} object is truncated`, async () => {
      const store = await openStore('zstd');
      const raw = compressible(size);
      const put = await store.putBuffer(raw);
      assert.ok(put.ok);
      const path = store.objectPath(put.value.digest);
      await chmod(path, 0o644);
      await truncate(path, (await stat(path)).size - 7);
      const outDir = join(dir, 'ws');
      await mkdir(outDir);
      const dest = join(outDir, 'out.txt');
      await writeFile(dest, 'previous content');
      const r = await store.restoreTo(put.value.digest, dest, 0o755);
      assert.ok(!r.ok && r.error.kind === 'corrupt', r.ok ? 'restored?' : r.error.message);
      assert.equal(await readFile(dest, 'utf8'), 'previous content');
      assert.deepEqual(await readdir(outDir), ['out.txt'], 'no temp file left next to dest');
      assert.equal((await quarantined()).length, 1);
    });
  }

  it('large objects restore and verify through the hashing worker (all codecs), catching corruption', async () => {
    const pool = new HashPool();
    pool.warmUp();
    for (let i = 0; i < 500 && !pool.onWorker; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(pool.onWorker);
    const raw = Buffer.concat([randomBytes(6 * 1024 * 1024), compressible(6 * 1024 * 1024 + 11)]);
    for (const codec of ['zstd', 'lz4', 'none'] as const) {
      await rm(root, { recursive: true, force: true });
      const store = new ObjectStore(root, { codec, level: 3, hashPool: pool });
      await store.init();
      const put = await store.putBuffer(raw);
      assert.ok(put.ok);
      const dest = join(dir, `big-${codec}`);
      const ok1 = await store.restoreTo(put.value.digest, dest, 0o755);
      assert.ok(ok1.ok && ok1.value.bytes === raw.length, codec);
      assert.ok((await readFile(dest)).equals(raw));
      assert.equal((await stat(dest)).mode & 0o777, 0o755);
      assert.ok((await store.verify(put.value.digest)).ok);
      await flipByte(store.objectPath(put.value.digest), 3_000_000);
      const bad = await store.restoreTo(put.value.digest, dest, 0o755);
      assert.ok(!bad.ok && bad.error.kind === 'corrupt', codec);
      assert.ok((await readFile(dest)).equals(raw), 'previous content kept');
      assert.deepEqual((await readdir(dir)).filter((n) => n.includes('.tmp-')), []);
      assert.equal((await quarantined()).length, 1);
    }
    await pool.close();
  });

  it('directIo: a large restored file bypasses the page cache with outputs (the default), not with cache or off; a small one never', { skip: pageCacheSkip() }, async () => {
    const large = randomBytes(3 * 1024 * 1024 + 5);
    const small = randomBytes(50_000);
    for (const mode of [undefined, 'outputs', 'cache', 'off'] as const) {
      await rm(root, { recursive: true, force: true });
      const store = new ObjectStore(root, { codec: 'zstd', level: 3, ...(mode === undefined ? {} : { directIo: mode }) });
      await store.init();
      for (const [what, content] of [['large', large], ['small', small]] as const) {
        const put = await store.putBuffer(content);
        assert.ok(put.ok);
        const dest = join(dir, `${what}-${mode ?? 'default'}`);
        const r = await store.restoreTo(put.value.digest, dest, 0o640);
        assert.ok(r.ok && r.value.bytes === content.length);
        assertResidency(dest, what === 'large' && (mode === undefined || mode === 'outputs'), `${what}, ${mode ?? 'default'}`);
        assert.ok((await readFile(dest)).equals(content), `${what}, ${mode ?? 'default'}: content`);
        assert.equal((await stat(dest)).mode & 0o777, 0o640);
      }
      assert.deepEqual((await readdir(dir)).filter((n) => n.includes('.tmp-')), []);
      await store.close();
    }
  });

  it('restoring a large object onto a full disk fails as io, leaves no temp file and keeps the old file, direct or buffered', { skip: MOUNT_SKIP }, async (t) => {
    const mnt = join(dir, 'small-disk');
    await mkdir(mnt);
    await withMount(t, mnt, 'tmpfs', 'size=2m', async () => {
      const content = randomBytes(3 * 1024 * 1024);
      for (const mode of ['outputs', 'off'] as const) {
        await rm(root, { recursive: true, force: true });
        const store = new ObjectStore(root, { codec: 'zstd', level: 3, directIo: mode });
        await store.init();
        const put = await store.putBuffer(content);
        assert.ok(put.ok);
        const dest = join(mnt, 'out.bin');
        await writeFile(dest, 'old\n');
        const r = await store.restoreTo(put.value.digest, dest, 0o644);
        assert.ok(!r.ok && r.error.kind === 'io' && /ENOSPC|no space|short write/i.test(r.error.message), `${mode}: ${JSON.stringify(r)}`);
        assert.equal(await readFile(dest, 'utf8'), 'old\n', `${mode}: the old file stays`);
        assert.deepEqual(await readdir(mnt), ['out.bin'], `${mode}: no temp file left`);
        assert.ok((await store.verify(put.value.digest)).ok, `${mode}: the object is untouched`);
        await store.close();
      }
    });
  });

  it('verify() detects a payload that decodes to the wrong content (codec none)', async () => {
    const store = await openStore('none');
    const put = await store.putBuffer(compressible(4 * 1024 * 1024));
    assert.ok(put.ok);
    await flipByte(store.objectPath(put.value.digest), 12345);
    const v = await store.verify(put.value.digest);
    assert.ok(!v.ok && v.error.kind === 'corrupt' && /does not match/.test(v.error.message));
    assert.equal((await quarantined()).length, 1);
  });

  it('treats a torn (header-less) object as absent, so the next put replaces it', async () => {
    const store = await openStore();
    const raw = Buffer.from('torn');
    const path = store.objectPath(sha(raw));
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, '');
    assert.equal(await store.has(sha(raw)), false);
    const put = await store.putBuffer(raw);
    assert.ok(put.ok && put.value.stored);
    const got = await store.getBuffer(sha(raw));
    assert.ok(got.ok && got.value.equals(raw));
  });

  it('restoreTo applies the mode (executable bit) and replaces the destination', async () => {
    const store = await openStore();
    const script = Buffer.from('#!/bin/sh\necho hi\n');
    const big = compressible(2 * 1024 * 1024);
    const ds = await store.putBuffer(script);
    const db = await store.putBuffer(big);
    assert.ok(ds.ok && db.ok);
    const dest = join(dir, 'run.sh');
    await writeFile(dest, 'old');
    assert.ok((await store.restoreTo(ds.value.digest, dest, 0o755)).ok);
    assert.equal((await stat(dest)).mode & 0o777, 0o755);
    assert.ok((await readFile(dest)).equals(script));
    const destBig = join(dir, 'big.bin');
    assert.ok((await store.restoreTo(db.value.digest, destBig, 0o755)).ok);
    assert.equal((await stat(destBig)).mode & 0o777, 0o755);
    assert.ok((await store.restoreTo(db.value.digest, destBig, 0o644)).ok);
    assert.equal((await stat(destBig)).mode & 0o777, 0o644);
  });

  for (const [label, size] of [['small', 100], ['large', 3 * 1024 * 1024]] as const) {
    it(`putFile with a wrong expected digest (${label}) returns changed and stores nothing`, async () => {
      const store = await openStore();
      const src = join(dir, 'src');
      const raw = randomBytes(size);
      await writeFile(src, raw);
      const stale = sha(Buffer.from('what the file used to contain'));
      const put = await store.putFile(src, stale);
      assert.ok(!put.ok && put.error.kind === 'changed');
      assert.equal(await store.has(sha(raw)), false);
      assert.equal(await store.has(stale), false);
      assert.deepEqual(await tmpLeft(), []);
      const right = await store.putFile(src, sha(raw));
      assert.ok(right.ok && right.value.stored);
    });
  }

  it('putFile with an expected digest that is already stored does not read the file', async () => {
    const store = await openStore();
    const raw = Buffer.from('content');
    assert.ok((await store.putBuffer(raw)).ok);
    const src = join(dir, 'src');
    // Different content: had putFile read it, the result would be 'changed', not the expected digest.
    await writeFile(src, 'different!');
    const put = await store.putFile(src, sha(raw));
    assert.deepEqual(put, { ok: true, value: { digest: sha(raw), size: 10, stored: false } });
  });

  it('concurrent putFile of the same content from 8 promises all succeed', async () => {
    const store = await openStore();
    const raw = compressible(3 * 1024 * 1024);
    const srcs = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const p = join(dir, `src${i}`);
        await writeFile(p, raw);
        return p;
      }),
    );
    const puts = await Promise.all(srcs.map((p) => store.putFile(p)));
    for (const p of puts) assert.ok(p.ok && p.value.digest === sha(raw), p.ok ? '' : p.error.message);
    assert.ok(puts.some((p) => p.ok && p.value.stored));
    const got = await store.getBuffer(sha(raw));
    assert.ok(got.ok && got.value.equals(raw));
    assert.deepEqual(await tmpLeft(), []);
  });

  it('two processes putting the same blob at once both succeed', async () => {
    await openStore();
    const raw = compressible(8 * 1024 * 1024);
    const src = join(dir, 'shared.bin');
    await writeFile(src, raw);
    const storeModule = fileURLToPath(new URL('../../src/cas/object-store.ts', import.meta.url));
    const code = `
      const { ObjectStore } = await import(${JSON.stringify(storeModule)});
      const s = new ObjectStore(${JSON.stringify(root)}, { codec: 'zstd', level: 3 });
      await s.init();
      const r = await s.putFile(${JSON.stringify(src)});
      process.stdout.write(JSON.stringify(r));`;
    const run = (): Promise<{ stdout: string }> =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code]);
    const outs = await Promise.all([run(), run()]);
    for (const { stdout } of outs) {
      const r = JSON.parse(stdout) as { ok: boolean; value: { digest: string } };
      assert.ok(r.ok && r.value.digest === sha(raw), stdout);
    }
    const got = await (await openStore()).getBuffer(sha(raw));
    assert.ok(got.ok && got.value.equals(raw));
    assert.deepEqual(await tmpLeft(), []);
  });

  it('init() sweeps temp files of dead writers and old foreign ones, keeping live ones', async () => {
    await openStore();
    const tmp = join(root, 'cas', 'tmp');
    const host = hostname().replace(/[^A-Za-z0-9.-]/g, '-') || 'unknown-host';
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    const hex = (): string => randomBytes(8).toString('hex');
    const dead = `${host}_${deadPid}_${hex()}`;
    const live = `${host}_${process.pid}_${hex()}`;
    const foreignFresh = `other-host_123_${hex()}`;
    const foreignOld = `other-host_456_${hex()}`;
    for (const n of [dead, live, foreignFresh, foreignOld]) await writeFile(join(tmp, n), 'partial');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000);
    await utimes(join(tmp, foreignOld), twoHoursAgo, twoHoursAgo);
    const store = new ObjectStore(root, { codec: 'zstd', level: 3 });
    assert.deepEqual(await store.init(), { sweptTemps: 2 });
    assert.deepEqual((await tmpLeft()).sort(), [foreignFresh, live].sort());
  });

  it('stores 1,000 tiny objects quickly', async () => {
    const store = await openStore();
    const started = performance.now();
    const blobs = Array.from({ length: 1000 }, (_, i) => Buffer.from(`tiny object number ${i}\n`));
    for (let i = 0; i < blobs.length; i += 16) {
      const puts = await Promise.all(blobs.slice(i, i + 16).map((b) => store.putBuffer(b)));
      for (const p of puts) assert.ok(p.ok);
    }
    const ms = performance.now() - started;
    assert.equal((await store.stats()).objects, 1000);
    assert.ok(ms < 10_000, `took ${ms} ms`);
  });
});
