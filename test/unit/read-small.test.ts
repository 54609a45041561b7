import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'node:test';
import { BlobStoreError } from '../../src/remote/blob-store.js';
import { MemoryBlobStore } from '../../src/remote/memory-store.js';
import { getSmall, readBody } from '../../src/remote/read-small.js';

const integrity = (e: unknown): boolean => e instanceof BlobStoreError && e.kind === 'integrity';

test('readBody collects every chunk, telling of each', async () => {
  let told = 0;
  const got = await readBody(Readable.from([Buffer.from('ab'), Buffer.from('cd'), Buffer.from('e')]), 100, 'x', () => told++);
  assert.equal(got.toString(), 'abcde');
  assert.equal(told, 3);
  assert.equal((await readBody(Readable.from([]), 100, 'x')).length, 0);
});

test('readBody refuses a body past the limit as integrity, and destroys it', async () => {
  const body = new PassThrough();
  const read = readBody(body, 4, 'action record k');
  body.write(Buffer.from('abc'));
  body.write(Buffer.from('de'));
  await assert.rejects(read, (e: unknown) => integrity(e) && /action record k: larger than 4 bytes/.test((e as Error).message));
  assert.equal(body.destroyed, true);
});

test('readBody passes the body\'s error on; a body closed before its end is an error, never a short read', async () => {
  const failing = new PassThrough();
  const a = readBody(failing, 100, 'x');
  failing.write('ab');
  failing.destroy(new BlobStoreError('transient', 'reset'));
  await assert.rejects(a, /reset/);
  const closed = new PassThrough();
  const b = readBody(closed, 100, 'x');
  closed.write('ab');
  closed.destroy();
  await assert.rejects(b, (e: unknown) => e instanceof BlobStoreError && e.kind === 'transient' && /closed after 2 bytes/.test(e.message));
});

test('getSmall uses a store\'s getBytes when it has one, else its stream', async () => {
  const plain = new MemoryBlobStore();
  plain.seed('ac/k.json', Buffer.from('{"a":1}'));
  assert.equal((await getSmall(plain, 'ac/k.json', 100, 'x'))?.toString(), '{"a":1}');
  assert.equal(await getSmall(plain, 'ac/none.json', 100, 'x'), undefined);
  await assert.rejects(getSmall(plain, 'ac/k.json', 3, 'record k'), (e: unknown) => integrity(e) && /record k: larger than 3 bytes/.test((e as Error).message));
  const asked: [string, number][] = [];
  const reader = Object.assign(new MemoryBlobStore(), {
    getBytes: async (key: string, max: number): Promise<Buffer | undefined> => {
      asked.push([key, max]);
      return Buffer.from('whole');
    },
  });
  assert.equal((await getSmall(reader, 'ac/k.json', 100, 'x'))?.toString(), 'whole');
  assert.deepEqual(asked, [['ac/k.json', 100]]);
});
