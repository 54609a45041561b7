import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeDifference, firstDifferingLine, isText } from '../../src/exec/repro-compare.js';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

describe('firstDifferingLine', () => {
  test('the first differing line, 1-based; null past the end of a file', () => {
    assert.deepEqual(firstDifferingLine(b('a\nb\nc\n'), b('a\nb\nX\n')), { line: 3, cached: 'c', new: 'X' });
    assert.deepEqual(firstDifferingLine(b('a\n'), b('a\nb\n')), { line: 2, cached: null, new: 'b' });
    assert.deepEqual(firstDifferingLine(b('a\n'), b('a')), { line: 1, cached: 'a\n', new: 'a' });
    assert.equal(firstDifferingLine(b('same'), b('same')), undefined);
  });

  test('binary content (NUL, invalid UTF-8) gets no line diff', () => {
    assert.equal(isText(Buffer.from([0x61, 0x00])), false);
    assert.equal(isText(Buffer.from([0xff, 0xfe])), false);
    assert.equal(firstDifferingLine(Buffer.from([0xff]), b('x')), undefined);
  });

  test('describeDifference', () => {
    assert.equal(
      describeDifference({ path: 'out.txt', problem: 'differs', firstDifference: { line: 3, cached: 'a', new: 'b' } }),
      'out.txt differs at line 3: "a" vs "b"',
    );
    assert.equal(describeDifference({ path: 'o', problem: 'missing' }), 'o was not produced');
  });
});
