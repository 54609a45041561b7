import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Diagnostic } from '../../src/errors/diagnostic.js';
import { didYouMean, renderDiagnostic, renderDiagnostics, suggestClosest } from '../../src/errors/render-diagnostic.js';

const noColor = { color: false };
const span = (line: number, col: number, length: number, file = 'manifest.txt') => ({ file, line, col, length });

/** A source whose line 12 is `  deps = biuld`, as in the README example. */
const source = `${'# filler\n'.repeat(11)}  deps = biuld\n`;
const unknownDep: Diagnostic = {
  severity: 'error',
  code: 'unknown-dependency',
  message: 'task "test" depends on unknown task "biuld"',
  span: span(12, 10, 5),
  notes: ['did you mean "build"?'],
};

describe('renderDiagnostic', () => {
  it('renders position, source line, caret and notes', () => {
    assert.equal(
      renderDiagnostic(unknownDep, new Map([['manifest.txt', source]]), noColor),
      [
        'manifest.txt:12:10: error: task "test" depends on unknown task "biuld"',
        '   12 |   deps = biuld',
        '      |          ^^^^^',
        '  did you mean "build"?',
      ].join('\n'),
    );
  });

  it('renders a diagnostic without a span as "reprovm: severity: message"', () => {
    const d: Diagnostic = { severity: 'error', code: 'unknown-target', message: 'unknown target "biuld"', notes: ['did you mean "build"?'] };
    assert.equal(renderDiagnostic(d, new Map(), noColor), 'reprovm: error: unknown target "biuld"\n  did you mean "build"?');
  });

  it('keeps tabs in the caret padding and draws at least one caret', () => {
    const d: Diagnostic = { severity: 'warning', code: 'invalid-value', message: 'm', span: span(1, 9, 0) };
    assert.equal(
      renderDiagnostic(d, new Map([['manifest.txt', '\tdeps = biuld']]), noColor),
      'manifest.txt:1:9: warning: m\n    1 | \tdeps = biuld\n      | \t       ^',
    );
  });

  it('strips CR from CRLF sources and ignores a BOM', () => {
    const d: Diagnostic = { severity: 'error', code: 'manifest-syntax', message: 'm', span: span(2, 1, 3) };
    assert.equal(
      renderDiagnostic(d, new Map([['manifest.txt', '\uFEFFtask a {\r\nfoo\r\n}\r\n']]), noColor),
      'manifest.txt:2:1: error: m\n    2 | foo\n      | ^^^',
    );
  });

  it('widens the gutter for long line numbers and puts a caret past the end of the line', () => {
    const text = `${'\n'.repeat(12344)}ab`;
    const d: Diagnostic = { severity: 'error', code: 'manifest-syntax', message: 'm', span: span(12345, 4, 1) };
    assert.equal(renderDiagnostic(d, new Map([['manifest.txt', text]]), noColor), 'manifest.txt:12345:4: error: m\n 12345 | ab\n       |    ^');
  });

  it('prints only the header and notes when the source is not available', () => {
    assert.equal(
      renderDiagnostic(unknownDep, new Map(), noColor),
      'manifest.txt:12:10: error: task "test" depends on unknown task "biuld"\n  did you mean "build"?',
    );
    assert.equal(
      renderDiagnostic({ ...unknownDep, span: span(99, 1, 1) }, new Map([['manifest.txt', source]]), noColor),
      'manifest.txt:99:1: error: task "test" depends on unknown task "biuld"\n  did you mean "build"?',
    );
  });

  it('colours the position bold, errors red, warnings yellow and the caret green', () => {
    const d: Diagnostic = { severity: 'error', code: 'manifest-syntax', message: 'm', span: span(1, 2, 2) };
    assert.equal(
      renderDiagnostic(d, new Map([['manifest.txt', 'abc']]), { color: true }),
      '\x1b[1mmanifest.txt:1:2\x1b[0m: \x1b[31merror\x1b[0m: m\n    1 | abc\n      |  \x1b[32m^^\x1b[0m',
    );
    const w: Diagnostic = { severity: 'warning', code: 'unknown-target', message: 'm' };
    assert.equal(renderDiagnostic(w, new Map(), { color: true }), '\x1b[1mreprovm\x1b[0m: \x1b[33mwarning\x1b[0m: m');
  });
});

describe('renderDiagnostics', () => {
  const warning: Diagnostic = { severity: 'warning', code: 'unknown-target', message: 'w' };
  const error: Diagnostic = { severity: 'error', code: 'unknown-target', message: 'e' };

  it('joins diagnostics and ends with a count', () => {
    assert.equal(renderDiagnostics([error, warning], new Map(), noColor), 'reprovm: error: e\nreprovm: warning: w\n1 error, 1 warning');
    assert.equal(renderDiagnostics([error, error], new Map(), noColor), 'reprovm: error: e\nreprovm: error: e\n2 errors');
    assert.equal(renderDiagnostics([warning, warning], new Map(), noColor), 'reprovm: warning: w\nreprovm: warning: w\n2 warnings');
  });

  it('renders nothing for no diagnostics', () => {
    assert.equal(renderDiagnostics([], new Map(), noColor), '');
  });
});

describe('suggestClosest', () => {
  it('suggests the closest candidate within max(2, floor(len/3)) edits', () => {
    assert.equal(suggestClosest('biuld', ['test', 'build', 'lint']), 'build');
    assert.equal(suggestClosest('inptus', ['cmd', 'inputs', 'outputs']), 'inputs');
    assert.equal(suggestClosest('xyz', ['build']), undefined);
    // 12 characters allow 4 edits; 3 characters still allow 2.
    assert.equal(suggestClosest('descriptionX', ['dscrptionXYZ']), 'dscrptionXYZ');
    assert.equal(suggestClosest('descriptionX', ['dscrptionXYZW']), undefined); // 5 edits
    assert.equal(suggestClosest('ab', ['xy']), 'xy');
    assert.equal(suggestClosest('abc', ['xyz']), undefined);
  });

  it('prefers the earlier candidate on ties and never suggests the word itself', () => {
    assert.equal(suggestClosest('tast', ['test', 'task']), 'test');
    assert.equal(suggestClosest('build', ['build']), undefined);
    assert.equal(didYouMean('biuld', ['build']), 'did you mean "build"?');
    assert.equal(didYouMean('zzzzzz', ['build']), undefined);
  });
});
