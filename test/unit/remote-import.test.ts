import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import type { CodecName } from '../../src/cas/codec.js';
import { ObjectStore } from '../../src/cas/object-store.js';
import { importBlob } from '../../src/cache/remote-import.js';
import { assertResidency, pageCacheSkip } from '../helpers/page-cache.js';
import { objectsIn, tempsIn } from '../helpers/remote-fixtures.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function store(codec: CodecName): Promise<ObjectStore> {
  const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-import-'));
  dirs.push(dir);
  const s = new ObjectStore(dir, { codec, level: 3 });
  await s.init();
  return s;
}

/** A body delivered in small uneven chunks, as a network would. */
function chunked(bytes: Buffer, size = 7001): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return Readable.from(parts);
}

for (const codec of ['zstd', 'lz4', 'none'] as const) {
  for (const [what, content] of [
    ['small', Buffer.from('hello remote\n')],
    ['3 MiB compressible', Buffer.alloc(3 << 20, 'ab')],
    ['2 MiB random', Buffer.from(Array.from({ length: 2 << 20 }, (_, i) => (i * 2654435761) >>> 24))],
  ] as const) {
    test(`${codec}, ${what}: a verified import is byte-identical; a damaged one imports nothing`, async () => {
      const src = await store(codec);
      const put = await src.putBuffer(content);
      assert.ok(put.ok);
      const d = put.value.digest;
      const bytes = readFileSync(src.objectPath(d));

      const dst = await store('zstd');
      const ok = await importBlob(dst, d, chunked(bytes));
      assert.deepEqual(ok, { ok: true, bytes: bytes.length });
      assert.deepEqual(readFileSync(dst.objectPath(d)), bytes);
      assert.ok((await dst.verify(d)).ok);

      const bad = await store('zstd');
      const flipped = Buffer.from(bytes);
      flipped[flipped.length - 3] = (flipped[flipped.length - 3] ?? 0) ^ 0x55;
      assert.equal((await importBlob(bad, d, chunked(flipped))).ok, false);
      assert.equal((await importBlob(bad, d, chunked(bytes.subarray(0, bytes.length - 10)))).ok, false, 'truncated');
      assert.equal((await importBlob(bad, d, chunked(Buffer.concat([bytes, Buffer.from('xx')])))).ok, false, 'trailing bytes');
      assert.deepEqual(await objectsIn(bad), []);
      assert.deepEqual(tempsIn(bad.root), []);
    });
  }
}

test('a transfer error is thrown, not reported as corruption, and leaves no temp file', async () => {
  const src = await store('zstd');
  const put = await src.putBuffer(Buffer.alloc(1 << 20, 1));
  assert.ok(put.ok);
  const bytes = readFileSync(src.objectPath(put.value.digest));
  const dst = await store('zstd');
  const failing = new Readable({
    read() {
      this.push(bytes.subarray(0, 20));
      this.destroy(new Error('ECONNRESET'));
    },
  });
  await assert.rejects(importBlob(dst, put.value.digest, failing), /ECONNRESET/);
  assert.deepEqual(tempsIn(dst.root), []);
  assert.deepEqual(await objectsIn(dst), []);
});

/** 2 MiB + a bit of incompressible bytes: more than the in-memory limit, so it takes the one-pass path. */
const LARGE = randomBytes((2 << 20) + 4099);

for (const [what, content] of [['small', Buffer.from('restore me\n')], ['large', LARGE]] as const) {
  test(`${what}: an import for a restore hands the verified bytes to restoreTo, which writes them without the object`, async () => {
    const src = await store('zstd');
    const put = await src.putBuffer(content);
    assert.ok(put.ok);
    const d = put.value.digest;
    const bytes = readFileSync(src.objectPath(d));
    const dst = await store('zstd');
    assert.deepEqual(await importBlob(dst, d, chunked(bytes, 65_536), { forRestore: true }), { ok: true, bytes: bytes.length });
    assert.deepEqual(readFileSync(dst.objectPath(d)), bytes, 'the object is imported as well');
    assert.equal(tempsIn(dst.root).length, what === 'large' ? 1 : 0, 'a large blob is staged as one raw file');
    // Remove the object: the restore must come from the verified copy alone.
    rmSync(dst.objectPath(d));
    const dest = path.join(dst.root, 'out.bin');
    const r = await dst.restoreTo(d, dest, 0o755);
    assert.deepEqual(r, { ok: true, value: { bytes: content.length } });
    assert.ok(readFileSync(dest).equals(content));
    assert.equal(statSync(dest).mode & 0o777, 0o755);
    assert.deepEqual(tempsIn(dst.root), [], 'the staged file was renamed into place');
    // A copy is used once: the next restore needs the object, which is gone.
    assert.equal((await dst.restoreTo(d, dest, 0o644)).ok, false);
  });
}

test('directIo: the imported object bypasses the page cache unless off, the staged output copy only with outputs', { skip: pageCacheSkip() }, async () => {
  const src = await store('zstd');
  const put = await src.putBuffer(LARGE);
  assert.ok(put.ok);
  const d = put.value.digest;
  const bytes = readFileSync(src.objectPath(d));
  for (const mode of ['outputs', 'cache', 'off'] as const) {
    const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-import-'));
    dirs.push(dir);
    const dst = new ObjectStore(dir, { codec: 'zstd', level: 3, directIo: mode });
    await dst.init();
    assert.deepEqual(await importBlob(dst, d, chunked(bytes, 65_536), { forRestore: true }), { ok: true, bytes: bytes.length });
    assertResidency(dst.objectPath(d), mode !== 'off', `${mode}: the object`);
    const dest = path.join(dir, 'out.bin');
    assert.ok((await dst.restoreTo(d, dest, 0o644)).ok);
    assertResidency(dest, mode === 'outputs', `${mode}: the restored output`);
    assert.ok(readFileSync(dest).equals(LARGE), `${mode}: output content`);
    assert.deepEqual(readFileSync(dst.objectPath(d)), bytes, `${mode}: object content`);
  }
});

test('a damaged large blob imported for a restore leaves no object, no staged file and no copy', async () => {
  const src = await store('lz4');
  const put = await src.putBuffer(LARGE);
  assert.ok(put.ok);
  const d = put.value.digest;
  const bytes = Buffer.from(readFileSync(src.objectPath(d)));
  bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0x01;
  const dst = await store('zstd');
  assert.equal((await importBlob(dst, d, chunked(bytes, 65_536), { forRestore: true })).ok, false);
  assert.deepEqual(await objectsIn(dst), []);
  assert.deepEqual(tempsIn(dst.root), []);
  assert.equal(dst.fresh.take(d), undefined);
});

test('a transfer error during a large import for a restore leaves neither temp file', async () => {
  const src = await store('none');
  const put = await src.putBuffer(LARGE);
  assert.ok(put.ok);
  const bytes = readFileSync(src.objectPath(put.value.digest));
  const dst = await store('zstd');
  let sent = 0;
  const failing = new Readable({
    read() {
      if (sent > (3 << 19)) return void this.destroy(new Error('ECONNRESET'));
      this.push(bytes.subarray(sent, sent + 65_536));
      sent += 65_536;
    },
  });
  await assert.rejects(importBlob(dst, put.value.digest, failing, { forRestore: true }), /ECONNRESET/);
  assert.deepEqual(tempsIn(dst.root), []);
  assert.deepEqual(await objectsIn(dst), []);
});

test('copies that no restore took are deleted when the store closes', async () => {
  const src = await store('zstd');
  const put = await src.putBuffer(LARGE);
  assert.ok(put.ok);
  const dst = await store('zstd');
  await importBlob(dst, put.value.digest, chunked(readFileSync(src.objectPath(put.value.digest)), 65_536), { forRestore: true });
  assert.equal(tempsIn(dst.root).length, 1);
  await dst.close();
  assert.deepEqual(tempsIn(dst.root), []);
});

test('a forged header claiming a huge size is refused before decoding (in memory and streamed)', async () => {
  const { encodeBuffer, encodeHeader, loadNatives } = await import('../../src/cas/codec.js');
  const { MAX_UNDECLARED_SIZE, verifyBlobStream } = await import('../../src/cache/remote-import.js');
  const natives = await loadNatives(['zstd']);
  const d = '0'.repeat(64) as Parameters<typeof importBlob>[1];
  const dst = await store('zstd');
  // A tiny zstd payload behind a header that claims 1 TiB: decoding it would allocate 1 TiB.
  const payload = encodeBuffer(natives, Buffer.from('x'), 'zstd', 3).subarray(16);
  const bomb = Buffer.concat([encodeHeader('zstd', 2 ** 40), payload]);
  const refused = await importBlob(dst, d, chunked(bomb));
  assert.equal(refused.ok, false);
  assert.match(refused.ok ? '' : refused.message, /implausible 1099511627776 bytes/);
  const v = await verifyBlobStream(chunked(bomb), d);
  assert.equal(v.ok, false);
  // A claim under the cap but not what the record says is refused too, in both paths.
  const small = Buffer.concat([encodeHeader('zstd', MAX_UNDECLARED_SIZE - 1), payload]);
  const wrong = await importBlob(dst, d, chunked(small), { expectedSize: 1 });
  assert.match(wrong.ok ? '' : wrong.message, /header says 1073741823 bytes, the action record says 1/);
  const big = Buffer.concat([encodeHeader('none', 5 << 20), Buffer.alloc(2 << 20)]);
  const streamed = await importBlob(dst, d, chunked(big), { expectedSize: 3 });
  assert.match(streamed.ok ? '' : streamed.message, /the action record says 3/);
  assert.deepEqual(tempsIn(dst.root), []);
});

test('a small blob that honestly decodes past 64 MiB is verified in steps and imported', async () => {
  const src = await store('zstd');
  const content = Buffer.alloc(65 << 20, 'z');
  const put = await src.putBuffer(content);
  assert.ok(put.ok);
  const bytes = readFileSync(src.objectPath(put.value.digest));
  assert.ok(bytes.length < 1 << 20);
  const dst = await store('zstd');
  const r = await importBlob(dst, put.value.digest, chunked(bytes), { expectedSize: content.length });
  assert.deepEqual(r, { ok: true, bytes: bytes.length });
  assert.ok((await dst.verify(put.value.digest)).ok);
});
