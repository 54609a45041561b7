/**
 * The one behaviour contract every BlobStore must meet, run against the in-memory store, the
 * directory store and the real servers (s3rver, azurite, the GCS fake). Callers give a factory;
 * each test gets a store over a fresh, empty bucket or prefix.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { BlobStoreError, type BlobInfo, type BlobStore } from '../../src/remote/blob-store.js';

/** How the contract suite gets stores. */
export interface ContractTarget {
  /** A store over an existing bucket with nothing under its prefix. */
  make(): Promise<BlobStore>;
  /** A store whose bucket/container/directory does not exist (yet). */
  makeMissingBucket(): Promise<BlobStore>;
  /** Size of the streamed round trip (default 100 MB); 0 skips it. */
  readonly bigBytes?: number;
  /** Keys to list for the paging test; stores are made with a small page size by the caller. */
  readonly listKeys?: number;
  /** Why concurrent puts of one key cannot be tested on this server (it writes in place). */
  readonly nonAtomicPuts?: string;
  /** Why create-only puts cannot be tested on this server (it ignores the precondition). */
  readonly noConditionalPut?: string;
}

/** Reads a stream fully. */
export async function readAllBytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks);
}

/** Gets a blob's bytes, or undefined when missing. */
export async function getBytes(store: BlobStore, key: string): Promise<Buffer | undefined> {
  const s = await store.get(key);
  return s === undefined ? undefined : readAllBytes(s);
}

/** Collects a listing, sorted by key. */
export async function listAll(store: BlobStore, prefix: string): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  for await (const info of store.list(prefix)) out.push(info);
  return out.sort((a, b) => a.key.localeCompare(b.key));
}

/**
 * A deterministic pseudo-random stream of `total` bytes (xorshift, 1 MiB chunks) and the
 * SHA-256 it will have, so a 100 MB round trip never holds 100 MB in memory.
 */
export function bigStream(total: number, seed = 0x9e3779b9): { stream: Readable; sha256: string } {
  const hash = createHash('sha256');
  let x = seed >>> 0 || 1;
  const chunk = (n: number): Buffer => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i + 4 <= n; i += 4) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      b.writeUInt32LE(x, i);
    }
    for (let i = n - (n % 4); i < n; i++) b[i] = i & 0xff;
    return b;
  };
  // Hash first with the same generator, then replay it lazily for the stream.
  const CH = 1 << 20;
  for (let left = total; left > 0; left -= CH) hash.update(chunk(Math.min(CH, left)));
  x = seed >>> 0 || 1;
  let left = total;
  const stream = new Readable({
    read(): void {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(CH, left);
      left -= n;
      this.push(chunk(n));
    },
  });
  return { stream, sha256: hash.digest('hex') };
}

async function sha256Of(stream: Readable): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of stream) {
    const b = c as Buffer;
    size += b.length;
    h.update(b);
  }
  return { sha256: h.digest('hex'), size };
}

async function withStore<T>(target: ContractTarget, fn: (s: BlobStore) => Promise<T>): Promise<T> {
  const store = await target.make();
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function isKind(kind: BlobStoreError['kind']): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof BlobStoreError, `expected a BlobStoreError, got ${String(e)}`);
    assert.equal(e.kind, kind, `expected kind ${kind}, got ${e.kind}: ${e.message}`);
    return true;
  };
}

/** Registers the contract tests for one store implementation. */
export function describeBlobStoreContract(name: string, target: ContractTarget): void {
  describe(`BlobStore contract: ${name}`, () => {
    it('treats a missing key as a miss, not an error', async () => {
      await withStore(target, async (s) => {
        assert.equal(await s.get('cas/missing'), undefined);
        assert.equal(await s.has('cas/missing'), false);
        assert.equal(await s.stat('cas/missing'), undefined);
        await s.delete('cas/missing');
        assert.deepEqual(await listAll(s, 'cas/'), []);
      });
    });

    it('round-trips buffers and streams, and a put replaces the blob', async () => {
      await withStore(target, async (s) => {
        const a = Buffer.from('hello blob store\n');
        await s.put('cas/one', a, { size: a.length });
        assert.deepEqual(await getBytes(s, 'cas/one'), a);
        assert.equal(await s.has('cas/one'), true);
        assert.deepEqual(await s.stat('cas/one'), { key: 'cas/one', size: a.length });
        const b = Buffer.alloc(300_000, 7);
        await s.put('cas/one', Readable.from([b.subarray(0, 100_000), b.subarray(100_000)]));
        assert.deepEqual(await getBytes(s, 'cas/one'), b);
        await s.put('ac/empty.json', Buffer.alloc(0));
        assert.deepEqual(await getBytes(s, 'ac/empty.json'), Buffer.alloc(0));
        assert.deepEqual(await s.stat('ac/empty.json'), { key: 'ac/empty.json', size: 0 });
      });
    });

    const big = target.bigBytes ?? 100_000_000;
    it(`round-trips a ${(big / 1e6).toFixed(0)} MB blob as a stream`, { skip: big === 0 }, async () => {
      await withStore(target, async (s) => {
        const { stream, sha256 } = bigStream(big);
        await s.put('cas/big', stream);
        assert.deepEqual(await s.stat('cas/big'), { key: 'cas/big', size: big });
        const back = await s.get('cas/big');
        assert.ok(back !== undefined);
        assert.deepEqual(await sha256Of(back), { sha256, size: big });
        await s.delete('cas/big');
      });
    });

    it('leaves exactly one of several concurrent puts of one key, never a mix', { skip: target.nonAtomicPuts ?? false }, async () => {
      await withStore(target, async (s) => {
        const bodies = [1, 2, 3, 4].map((n) => Buffer.alloc(200_000 + n, n));
        await Promise.all(bodies.map((b, i) => s.put('cas/race', i % 2 === 0 ? b : Readable.from([b]))));
        const got = await getBytes(s, 'cas/race');
        assert.ok(got !== undefined);
        assert.ok(bodies.some((b) => b.equals(got)), `content is none of the writes (length ${got.length})`);
        assert.equal((await listAll(s, 'cas/race')).length, 1);
      });
    });

    it('a create-only put stores a new key, and answers "exists" without writing when the key is there', { skip: target.noConditionalPut ?? false }, async () => {
      await withStore(target, async (s) => {
        assert.equal(await s.put('ac/once.json', Buffer.from('first'), { ifAbsent: true }), 'stored');
        assert.equal(await s.put('ac/once.json', Buffer.from('second'), { ifAbsent: true }), 'exists');
        assert.equal((await getBytes(s, 'ac/once.json'))?.toString(), 'first');
        // Without the condition a put replaces, as before.
        assert.equal(await s.put('ac/once.json', Buffer.from('third')), 'stored');
        assert.equal((await getBytes(s, 'ac/once.json'))?.toString(), 'third');
        assert.deepEqual((await listAll(s, 'ac/')).map((b) => b.key), ['ac/once.json']);
      });
    });

    it('lists by string prefix with sizes', async () => {
      await withStore(target, async (s) => {
        for (const [k, n] of [['ls/a/1', 1], ['ls/a/2', 2], ['ls/ab', 3], ['ls/b/1', 4], ['other', 5]] as const) {
          await s.put(k, Buffer.alloc(n, 1));
        }
        assert.deepEqual(await listAll(s, 'ls/a'), [
          { key: 'ls/a/1', size: 1 },
          { key: 'ls/a/2', size: 2 },
          { key: 'ls/ab', size: 3 },
        ]);
        assert.deepEqual((await listAll(s, 'ls/a/')).map((i) => i.key), ['ls/a/1', 'ls/a/2']);
        assert.deepEqual((await listAll(s, '')).map((i) => i.key), ['ls/a/1', 'ls/a/2', 'ls/ab', 'ls/b/1', 'other']);
        assert.deepEqual(await listAll(s, 'nothing/'), []);
      });
    });

    const n = target.listKeys ?? 25;
    it(`lists all of ${n} keys across pages`, async () => {
      await withStore(target, async (s) => {
        const keys = Array.from({ length: n }, (_, i) => `pg/${String(i).padStart(5, '0')}`);
        for (let i = 0; i < keys.length; i += 50) {
          await Promise.all(keys.slice(i, i + 50).map((k) => s.put(k, Buffer.from(k))));
        }
        const listed = await listAll(s, 'pg/');
        assert.equal(listed.length, n);
        assert.deepEqual(listed.map((x) => x.key), keys);
      });
    });

    it('deletes a blob (and deleting again is fine)', async () => {
      await withStore(target, async (s) => {
        await s.put('cas/del', Buffer.from('x'));
        await s.delete('cas/del');
        assert.equal(await s.has('cas/del'), false);
        assert.equal(await s.get('cas/del'), undefined);
        await s.delete('cas/del');
      });
    });

    it('ensureBucket is idempotent and keeps the data', async () => {
      await withStore(target, async (s) => {
        await s.put('cas/keep', Buffer.from('kept'));
        await s.ensureBucket();
        await s.ensureBucket();
        assert.deepEqual(await getBytes(s, 'cas/keep'), Buffer.from('kept'));
      });
    });

    it('reports a missing bucket as no-bucket, until ensureBucket creates it', async () => {
      const s = await target.makeMissingBucket();
      try {
        await assert.rejects(s.get('cas/x'), isKind('no-bucket'));
        await assert.rejects(s.has('cas/x'), isKind('no-bucket'));
        await assert.rejects(s.put('cas/x', Buffer.from('x')), isKind('no-bucket'));
        await assert.rejects(listAll(s, ''), isKind('no-bucket'));
        await s.ensureBucket();
        await s.ensureBucket();
        await s.put('cas/x', Buffer.from('x'));
        assert.deepEqual(await getBytes(s, 'cas/x'), Buffer.from('x'));
      } finally {
        await s.close();
      }
    });

    it('rejects keys that could escape the prefix', async () => {
      await withStore(target, async (s) => {
        for (const bad of ['', '/abs', '../up', 'a/../../b', 'a//b', 'a\\b']) {
          await assert.rejects(s.put(bad, Buffer.from('x')), isKind('permanent'), bad);
          await assert.rejects(s.get(bad), isKind('permanent'), bad);
        }
      });
    });
  });
}
