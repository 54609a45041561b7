import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fastPathArgs } from '../../src/cli/fast-path-args.js';

describe('fastPathArgs', () => {
  test('accepts the plain build command lines', () => {
    assert.deepEqual(fastPathArgs(['manifest.txt']), { manifest: 'manifest.txt', targets: [], quiet: false, color: true });
    assert.deepEqual(fastPathArgs(['-j', '8', 'm.txt', 'a', 'b']), { manifest: 'm.txt', targets: ['a', 'b'], quiet: false, color: true, jobs: 8 });
    assert.deepEqual(fastPathArgs(['m.txt', '--jobs=3', '-q', '--no-color']), { manifest: 'm.txt', targets: [], quiet: true, color: false, jobs: 3 });
    assert.deepEqual(fastPathArgs(['-j12', '-k', '--no-progress', '--no-wait', 'm.txt']), { manifest: 'm.txt', targets: [], quiet: false, color: true, jobs: 12 });
    assert.equal(fastPathArgs(['--jobs', '2', '--keep-going', '--no-keep-going', '--quiet', 'm.txt'])?.jobs, 2);
  });

  test('leaves everything else to the full CLI', () => {
    for (const args of [
      [],
      ['-j'],
      ['-j', '0', 'm.txt'],
      ['-j', 'x', 'm.txt'],
      ['-j', '08', 'm.txt'],
      ['-kq', 'm.txt'],
      ['-v', 'm.txt'],
      ['--json', 'm.txt'],
      ['-f', 'm.txt'],
      ['--force', 'm.txt'],
      ['-n', 'm.txt'],
      ['--cache-dir', 'c', 'm.txt'],
      ['--config', 'c.conf', 'm.txt'],
      ['--', 'm.txt'],
      ['m.txt', '--graph'],
      ['run', 'm.txt'],
      ['cache', 'stats'],
      ['help'],
      ['--help'],
      ['-V'],
    ]) {
      assert.equal(fastPathArgs(args), undefined, args.join(' '));
    }
  });
});
