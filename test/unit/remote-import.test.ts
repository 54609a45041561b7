import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import type { CodecName } from '../../src/cas/codec.js';
import { ObjectStore } from '../../src/cas/object-store.js';
import { importBlob } from '../../src/cache/remote-import.js';
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
