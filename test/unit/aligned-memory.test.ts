import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { alignedBuffers, canAlign, isPageAligned } from '../../src/util/aligned-memory.js';

test('buffers from alignedBuffers count as page-aligned at page offsets only; other memory never', () => {
  assert.equal(canAlign(), true);
  const { store, buffers } = alignedBuffers(2, 1 << 20, false);
  assert.equal(buffers.length, 2);
  assert.equal(store.byteLength, 2 << 20);
  for (const b of buffers) {
    assert.equal(b.length, 1 << 20);
    assert.equal(isPageAligned(b), true);
    assert.equal(isPageAligned(b.subarray(4096)), true);
    assert.equal(isPageAligned(b.subarray(100)), false);
  }
  assert.equal(isPageAligned(Buffer.allocUnsafeSlow(1 << 20)), false);
  assert.equal(isPageAligned(Buffer.from(new ArrayBuffer(1 << 20))), false, 'an ArrayBuffer of our own is not known to be aligned');
  const shared = alignedBuffers(1, 1 << 16, true);
  assert.ok(shared.store instanceof SharedArrayBuffer, 'shared: can be posted to a worker');
  assert.throws(() => alignedBuffers(1, 1000, false), /multiples of 65536/);
});

test('without WebAssembly (--jitless) the buffers are plain and never count as aligned', () => {
  const mod = fileURLToPath(new URL('../../src/util/aligned-memory.ts', import.meta.url));
  const src = `const m = await import(${JSON.stringify(mod)}); const { store, buffers } = m.alignedBuffers(2, 65536, true);
    console.log(JSON.stringify([m.canAlign(), store instanceof SharedArrayBuffer, buffers.length, m.isPageAligned(buffers[0])]));`;
  const r = spawnSync(process.execPath, ['--jitless', '--import', 'tsx', '--input-type=module', '-e', src], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim()), [false, true, 2, false]);
});
