import assert from 'node:assert/strict';
import { randomBytes, randomFillSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { createAppendFile, SLAB, SLABS_PER_RING, type AppendOptions } from '../../src/util/direct-appender.js';
import { alignedBuffers } from '../../src/util/aligned-memory.js';
import { fsType, takesDirectIo } from '../helpers/page-cache.js';
import { MOUNT_SKIP, withMount } from '../helpers/scratch-mount.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function scratch(root = tmpdir()): string {
  const d = mkdtempSync(path.join(root, 'reprovm-append-'));
  dirs.push(d);
  return d;
}

/** Appends `content` in chunks of `chunk` bytes to a new file; returns the file and whether it went direct. */
async function write(dir: string, content: Buffer, chunk: number, opts: AppendOptions = {}): Promise<{ file: string; direct: boolean }> {
  const file = path.join(dir, `f-${content.length}-${chunk}-${Math.random().toString(36).slice(2)}`);
  const a = await createAppendFile(file, 0o444, opts);
  try {
    for (let i = 0; i < content.length; i += chunk) await a.append(content.subarray(i, i + chunk));
    await a.end();
    return { file, direct: a.direct };
  } finally {
    await a.close();
  }
}

const SIZES = [0, 1, 4095, 4096, 4097, SLAB - 1, SLAB, SLAB + 1, 3 * SLAB + 12345, 7 * SLAB];

test('every size and chunking is written byte for byte, with the requested mode; on ext4/xfs/btrfs past the page cache', async () => {
  const dir = scratch();
  const content = randomBytes(7 * SLAB + 1);
  for (const size of SIZES) {
    for (const chunk of [7001, 65536, SLAB + 3, Math.max(1, size)]) {
      const { file, direct } = await write(dir, content.subarray(0, size), chunk);
      assert.equal(statSync(file).size, size, `size ${size}, chunks of ${chunk}`);
      assert.ok(readFileSync(file).equals(content.subarray(0, size)), `content of ${size} in chunks of ${chunk}`);
      assert.equal(statSync(file).mode & 0o777, 0o444);
      if (takesDirectIo(dir)) assert.equal(direct, true, `${fsType(dir)} takes O_DIRECT`);
    }
  }
});

test('overlapping appends (not awaited one by one) land in call order, direct or not', async () => {
  for (const direct of [true, false]) {
    const content = randomBytes(5 * SLAB + 999);
    const file = path.join(scratch(), 'overlap');
    const a = await createAppendFile(file, 0o444, { direct });
    try {
      const calls: Promise<void>[] = [];
      // Slab-sized chunks first (each one fills a slab and starts its flush), then odd ones.
      for (let i = 0; i < content.length; ) {
        const n = i < 3 * SLAB ? SLAB : 65537;
        calls.push(a.append(content.subarray(i, i + n)));
        i += n;
      }
      await Promise.all(calls);
      await a.end();
    } finally {
      await a.close();
    }
    assert.ok(readFileSync(file).equals(content), `content, direct: ${direct}`);
  }
});

test('a whole slab of aligned memory at a slab boundary is written in place, not copied; anything else is copied', async () => {
  // The appender's slabs, given by the test so it can tell whether they were written to; aligned
  // like the appender's own (misaligned ones would make a later direct write fail with EINVAL).
  const marker = (): Buffer[] => alignedBuffers(SLABS_PER_RING, SLAB, false).buffers.map((b) => b.fill(0xee));
  const untouched = (slabs: Buffer[]): boolean => slabs.every((b) => b.every((x) => x === 0xee));
  for (const direct of [true, false]) {
    const { buffers } = alignedBuffers(3, SLAB, false);
    for (const b of buffers) randomFillSync(b);
    const expected = Buffer.concat(buffers);
    const slabs = marker();
    const file = path.join(scratch(), `in-place-${direct}`);
    const a = await createAppendFile(file, 0o444, { direct, slabs });
    try {
      for (const b of buffers) await a.append(b);
      // Resolved means written: changing the memory now must not change the file.
      for (const b of buffers) b.fill(0);
      await a.end();
    } finally {
      await a.close();
    }
    assert.ok(readFileSync(file).equals(expected), `content, direct: ${direct}`);
    assert.ok(untouched(slabs), `no slab was used, direct: ${direct}`);
  }
  // Off a slab boundary (a small chunk came first) or not aligned memory (when direct): copied.
  const { buffers } = alignedBuffers(1, SLAB, false);
  const head = randomBytes(100);
  const plain = randomBytes(SLAB);
  for (const [what, chunks, direct] of [['after a small chunk', [head, buffers[0] as Buffer], true], ['plain memory', [plain], true]] as const) {
    const slabs = marker();
    const file = path.join(scratch(), 'copied');
    const a = await createAppendFile(file, 0o444, { direct, slabs });
    try {
      for (const c of chunks) await a.append(c);
      await a.end();
    } finally {
      await a.close();
    }
    assert.ok(readFileSync(file).equals(Buffer.concat(chunks)), what);
    assert.ok(!untouched(slabs), `${what}: copied into a slab`);
  }
});

test('direct: false writes through the page cache, same bytes', async () => {
  const content = randomBytes(2 * SLAB + 77);
  const { file, direct } = await write(scratch(), content, 65536, { direct: false });
  assert.equal(direct, false);
  assert.ok(readFileSync(file).equals(content));
});

// tmpfs refuses O_DIRECT at open before Linux 6.6 and takes it since: the bytes are right either way.
test('on tmpfs the bytes are right whether it takes O_DIRECT or refuses it at open', { skip: fsType('/dev/shm') === 'tmpfs' ? false : 'no tmpfs at /dev/shm' }, async () => {
  const dir = scratch('/dev/shm');
  for (const size of [4097, 3 * SLAB + 5]) {
    const content = randomBytes(size);
    const { file } = await write(dir, content, 65536);
    assert.equal(statSync(file).size, size);
    assert.ok(readFileSync(file).equals(content));
  }
});

test('where the kernel refuses the first direct write (EINVAL), it is repeated buffered, and the directory is not asked again', { skip: takesDirectIo() ? false : 'needs a Linux file system that takes O_DIRECT' }, async () => {
  const dir = scratch();
  // Slabs 16 bytes off a page boundary: a direct write from them is refused with EINVAL.
  const backing = Buffer.allocUnsafeSlow(SLABS_PER_RING * SLAB + 4096);
  const misaligned = Array.from({ length: SLABS_PER_RING }, (_, i) => backing.subarray(16 + i * SLAB, 16 + (i + 1) * SLAB));
  for (const size of [5000, 2 * SLAB + 9]) {
    const content = randomBytes(size);
    const { file, direct } = await write(scratch(), content, 65536, { slabs: misaligned });
    assert.equal(direct, false, `${size}: fell back`);
    assert.equal(statSync(file).size, size);
    assert.ok(readFileSync(file).equals(content), `${size}: content after the fallback`);
  }
  const first = await write(dir, randomBytes(100), 100, { slabs: misaligned });
  assert.equal(first.direct, false);
  const later = await write(dir, randomBytes(SLAB + 1), 65536);
  assert.equal(later.direct, false, 'the refusal is remembered for the directory');
});

// ramfs has no direct I/O at all: the kernel creates the file, then refuses the open (EINVAL).
test('where O_DIRECT is refused at open, the file the refused open created is replaced by a buffered one', { skip: MOUNT_SKIP }, async (t) => {
  const mnt = scratch();
  await withMount(t, mnt, 'ramfs', undefined, async () => {
    for (const size of [0, 4097, 2 * SLAB + 3]) {
      const content = randomBytes(size);
      const { file, direct } = await write(mnt, content, 65536);
      assert.equal(direct, false, `${size}: buffered`);
      assert.equal(statSync(file).size, size);
      assert.equal(statSync(file).mode & 0o777, 0o444);
      assert.ok(readFileSync(file).equals(content), `${size}: content`);
    }
    const sub = path.join(mnt, 'sub');
    const first = await write(sub, Buffer.from('x'), 1);
    assert.equal(first.direct, false, 'in a new directory too (created by the appender)');
  });
});

test('an existing file is not overwritten; a missing directory is created', async () => {
  const dir = scratch();
  const { file } = await write(dir, Buffer.from('first'), 5);
  await assert.rejects(createAppendFile(file, 0o444), { code: 'EEXIST' });
  assert.equal(readFileSync(file, 'utf8'), 'first');
  const deep = path.join(dir, 'a', 'b', 'c');
  const a = await createAppendFile(deep, 0o600);
  await a.append(Buffer.from('x'));
  await a.end();
  await a.close();
  assert.equal(readFileSync(deep, 'utf8'), 'x');
});

test('appending after close is an error; close twice is harmless', async () => {
  const a = await createAppendFile(path.join(scratch(), 'f'), 0o600);
  await a.close();
  await a.close();
  await assert.rejects(a.append(Buffer.from('x')), /after close/);
});

test('a full disk is an error (ENOSPC) from append or end, not a quiet success', { skip: MOUNT_SKIP }, async (t) => {
  const mnt = scratch();
  await withMount(t, mnt, 'tmpfs', 'size=2m', async () => {
    const a = await createAppendFile(path.join(mnt, 'f'), 0o600);
    const failed = (async () => {
      for (let i = 0; i < 4; i++) await a.append(randomBytes(SLAB));
      await a.end();
    })();
    await assert.rejects(failed, { code: 'ENOSPC' });
    await a.close();
  });
});
