import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderDiagnostics } from '../../src/errors/render-diagnostic.js';
import { parseManifest } from '../../src/manifest/parse.js';
import type { ParseOptions, TaskSpec } from '../../src/manifest/types.js';

const FILE = 'manifest.txt';
const parse = (text: string, opts?: ParseOptions) => parseManifest(text, FILE, '/ws', opts);
/** Diagnostics exactly as a user sees them (no colour). */
const rendered = (text: string, opts?: ParseOptions): string =>
  renderDiagnostics(parse(text, opts).diagnostics, new Map([[FILE, text]]), { color: false });
const at = (line: number, col: number, length: number) => ({ file: FILE, line, col, length });
/** The only task of a manifest that must parse cleanly. */
function only(text: string, opts?: ParseOptions): TaskSpec {
  const { manifest, diagnostics } = parse(text, opts);
  assert.deepEqual(diagnostics, []);
  assert.equal(manifest.tasks.length, 1);
  const task = manifest.tasks[0];
  assert.ok(task);
  return task;
}
const values = (items: readonly { value: string }[]) => items.map((i) => i.value);

const HELLO = `# hello world
task build {
  cmd = gcc -o hello hello.c
  inputs = hello.c
  outputs = hello
  deps =
}

task run {
  cmd = ./hello
  inputs = hello
  deps = build
}
`;

describe('parseManifest: valid manifests', () => {
  it('parses the hello-world example with spans', () => {
    const { manifest, diagnostics } = parse(HELLO);
    assert.deepEqual(diagnostics, []);
    assert.equal(manifest.file, FILE);
    assert.equal(manifest.workspace, '/ws');
    assert.deepEqual(manifest.tasks[0], {
      name: 'build',
      nameSpan: at(2, 6, 5),
      cmd: { value: 'gcc -o hello hello.c', span: at(3, 9, 20) },
      inputs: [{ value: 'hello.c', span: at(4, 12, 7) }],
      outputs: [{ value: 'hello', span: at(5, 13, 5) }],
      deps: [],
      env: [],
      timeoutMs: undefined,
      retries: undefined, // not set: the configured default applies
      cache: true,
      description: '',
    });
    assert.deepEqual(values(manifest.tasks[1]?.deps ?? []), ['build']);
    assert.deepEqual(manifest.tasks[1]?.deps[0]?.span, at(12, 10, 5));
  });

  it("accepts the original's space-separated lists, commas, and both mixed", () => {
    const t = only('task t {\n  inputs = a.c b.c   c.c\n  outputs = x,y , z\n  deps =\n  env = A,B C\n}\n');
    assert.deepEqual(values(t.inputs), ['a.c', 'b.c', 'c.c']);
    assert.deepEqual(t.inputs.map((i) => i.span.col), [12, 16, 22]);
    assert.deepEqual(values(t.outputs), ['x', 'y', 'z']);
    assert.deepEqual(t.outputs.map((i) => i.span.col), [13, 15, 19]);
    assert.deepEqual(values(t.env), ['A', 'B', 'C']);
  });

  it('reads quoted items with spaces, commas and escapes; the span covers the quotes', () => {
    const t = only('task t {\n  inputs = "my file.c", "a,b" "say \\"hi\\"" "back\\\\slash" plain\n}\n');
    assert.deepEqual(values(t.inputs), ['my file.c', 'a,b', 'say "hi"', 'back\\slash', 'plain']);
    assert.deepEqual(t.inputs[0]?.span, at(2, 12, 11));
    assert.deepEqual(t.inputs[2]?.span, at(2, 31, 12));
  });

  it('accepts CRLF line endings and a BOM', () => {
    const t = only('\uFEFFtask build {\r\n  cmd = make\r\n  inputs = a.c\r\n}\r\n');
    assert.equal(t.name, 'build');
    assert.deepEqual(t.nameSpan, at(1, 6, 5));
    assert.equal(t.cmd.value, 'make');
    assert.deepEqual(values(t.inputs), ['a.c']);
  });

  it('keeps "=" and "#" inside cmd and description', () => {
    const t = only('task t {\n  cmd =  FOO=1 echo "a=b" # not a comment  \n  description = x = y # z\n}\n');
    assert.deepEqual(t.cmd, { value: 'FOO=1 echo "a=b" # not a comment', span: at(2, 10, 32) });
    assert.equal(t.description, 'x = y # z');
  });

  it('allows comments, blank lines, indentation, a brace on the next line and one-line empty blocks', () => {
    const { manifest, diagnostics } = parse('\n  # lead\ntask a\n\n  # between\n{\n\n    # inside\n  cmd = x\n}\ntask b { }\ntask c{\n}\n');
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(manifest.tasks.map((t) => [t.name, t.cmd.value]), [['a', 'x'], ['b', ''], ['c', '']]);
  });

  it('normalises paths and keeps input globs', () => {
    const t = only('task t {\n  inputs = ./src//a/./b/ x/../y src/**/*.c "lib/{a,b}.h" f?[0-9]\n  outputs = ./out/ build//bin\n}\n');
    assert.deepEqual(values(t.inputs), ['src/a/b', 'y', 'src/**/*.c', 'lib/{a,b}.h', 'f?[0-9]']);
    assert.deepEqual(values(t.outputs), ['out', 'build/bin']);
  });

  it('parses timeouts, retries, cache flags, env names and descriptions', () => {
    const timeout = (v: string) => only(`task t {\n  timeout = ${v}\n}\n`).timeoutMs;
    assert.equal(timeout('90'), 90_000);
    assert.equal(timeout('90s'), 90_000);
    assert.equal(timeout('1500ms'), 1500);
    assert.equal(timeout('2m'), 120_000);
    assert.equal(timeout('1h'), 3_600_000);
    assert.equal(timeout('1m30s'), 90_000);
    assert.equal(timeout(''), undefined);
    assert.equal(only('task t {\n  retries = 3\n}\n').retries, 3);
    assert.equal(only('task t {\n  retries = 100\n}\n').retries, 100);
    for (const [v, expected] of [['true', true], ['No', false], ['1', true], ['OFF', false], ['yes', true], ['', true]] as const) {
      assert.equal(only(`task t {\n  cache = ${v}\n}\n`).cache, expected, v);
    }
    assert.deepEqual(values(only('task t {\n  env = PATH _X CC_1\n}\n').env), ['PATH', '_X', 'CC_1']);
  });

  it('accepts absolute inputs only with allowAbsoluteInputs', () => {
    const t = only('task t {\n  inputs = /usr//include/ /a/../b\n}\n', { allowAbsoluteInputs: true });
    assert.deepEqual(values(t.inputs), ['/usr/include', '/b']);
  });

  it('accepts task names with . : - _', () => {
    assert.equal(only('task _build.x:y-z {\n}\n').name, '_build.x:y-z');
  });
});

describe('parseManifest: diagnostics', () => {
  it('reports an invalid task name', () => {
    assert.equal(
      rendered('task 1x {\n}\n'),
      `manifest.txt:1:6: error: invalid task name "1x": a name starts with a letter or _ and contains only letters, digits, _ . : -
    1 | task 1x {
      |      ^^
1 error`,
    );
    assert.deepEqual(parse('task 1x {\n}\n').manifest.tasks, []);
  });

  it('reports a missing task name', () => {
    assert.equal(
      rendered('task {\n}\n'),
      `manifest.txt:1:6: error: expected a task name after "task"
    1 | task {
      |      ^
1 error`,
    );
  });

  it('reports an unknown key with and without a suggestion', () => {
    assert.equal(
      rendered('task t {\n  inptus = a\n  colour = red\n}\n'),
      `manifest.txt:2:3: error: unknown key "inptus" in task "t"
    2 |   inptus = a
      |   ^^^^^^
  did you mean "inputs"?
manifest.txt:3:3: error: unknown key "colour" in task "t"
    3 |   colour = red
      |   ^^^^^^
  expected one of: cmd, inputs, outputs, deps, env, timeout, retries, cache, description
2 errors`,
    );
  });

  it('suggests the lowercase key for a key in the wrong case', () => {
    assert.deepEqual(parse('task t {\n  CMD = x\n}\n').diagnostics[0]?.notes, ['did you mean "cmd"?']);
  });

  it('reports a duplicate key and keeps the first value', () => {
    const text = 'task t {\n  cmd = one\n  cmd = two\n}\n';
    assert.equal(
      rendered(text),
      `manifest.txt:3:3: error: duplicate key "cmd" in task "t"
    3 |   cmd = two
      |   ^^^
  first defined at manifest.txt:2:3
1 error`,
    );
    assert.equal(parse(text).manifest.tasks[0]?.cmd.value, 'one');
  });

  it('reports a duplicate task and keeps the first', () => {
    const text = 'task a {\n  cmd = one\n}\ntask a {\n  cmd = two\n}\n';
    assert.equal(
      rendered(text),
      `manifest.txt:4:6: error: duplicate task "a"
    4 | task a {
      |      ^
  first defined at manifest.txt:1:6
1 error`,
    );
    assert.deepEqual(parse(text).manifest.tasks.map((t) => t.cmd.value), ['one']);
  });

  it('reports an unterminated quote at the quote', () => {
    assert.equal(
      rendered('task t {\n  inputs = a "b c\n}\n'),
      `manifest.txt:2:14: error: unterminated quoted item: expected a closing "
    2 |   inputs = a "b c
      |              ^
1 error`,
    );
  });

  it('reports paths that escape the workspace', () => {
    assert.equal(
      rendered('task t {\n  inputs = /etc/x a/../../b\n  outputs = ../x /abs\n}\n'),
      `manifest.txt:2:12: error: absolute input path "/etc/x" is not allowed (pass --allow-absolute-inputs to permit absolute inputs)
    2 |   inputs = /etc/x a/../../b
      |            ^^^^^^
manifest.txt:2:19: error: input path "a/../../b" escapes the workspace
    2 |   inputs = /etc/x a/../../b
      |                   ^^^^^^^^^
manifest.txt:3:13: error: output path "../x" escapes the workspace
    3 |   outputs = ../x /abs
      |             ^^^^
manifest.txt:3:18: error: absolute output path "/abs" is not allowed: outputs must be inside the workspace
    3 |   outputs = ../x /abs
      |                  ^^^^
4 errors`,
    );
    assert.deepEqual(parse('task t {\n  outputs = /abs\n}\n', { allowAbsoluteInputs: true }).diagnostics.map((d) => d.code), ['path-escape']);
    assert.deepEqual(parse('task t {\n  inputs = /abs\n}\n').diagnostics.map((d) => d.code), ['path-escape']);
  });

  it('rejects outputs in .reprovm, glob outputs, and the workspace itself', () => {
    assert.equal(
      rendered('task t {\n  outputs = ./.reprovm/x out/*.o\n  inputs = ./\n}\n'),
      `manifest.txt:2:13: error: output path "./.reprovm/x" is inside .reprovm/, which is reserved for the cache
    2 |   outputs = ./.reprovm/x out/*.o
      |             ^^^^^^^^^^^^
manifest.txt:2:26: error: output path "out/*.o" contains the glob character "*": outputs must be exact paths
    2 |   outputs = ./.reprovm/x out/*.o
      |                          ^^^^^^^
manifest.txt:3:12: error: input path "./" names the whole workspace: list the files or directories instead
    3 |   inputs = ./
      |            ^^
3 errors`,
    );
    assert.deepEqual(parse('task t {\n  outputs = .reprovm\n}\n').diagnostics.map((d) => d.code), ['invalid-value']);
    // Only a leading .reprovm is reserved.
    assert.deepEqual(values(only('task t {\n  outputs = a/.reprovm\n}\n').outputs), ['a/.reprovm']);
  });

  it('reports invalid env names, timeouts, retries and cache flags', () => {
    assert.equal(
      rendered('task t {\n  env = OK 1X A-B\n  timeout = abc\n  retries = 101\n  cache = maybe\n}\n'),
      `manifest.txt:2:12: error: invalid environment variable name "1X": a name starts with a letter or _ and contains only letters, digits and _
    2 |   env = OK 1X A-B
      |            ^^
manifest.txt:2:15: error: invalid environment variable name "A-B": a name starts with a letter or _ and contains only letters, digits and _
    2 |   env = OK 1X A-B
      |               ^^^
manifest.txt:3:13: error: invalid timeout "abc": expected a duration such as 90s, 1500ms, 2m
    3 |   timeout = abc
      |             ^^^
manifest.txt:4:13: error: invalid retries "101": expected a whole number from 0 to 100
    4 |   retries = 101
      |             ^^^
manifest.txt:5:11: error: invalid cache "maybe": expected true or false (also yes/no, on/off, 1/0)
    5 |   cache = maybe
      |           ^^^^^
5 errors`,
    );
    const messages = (v: string) => parse(`task t {\n  timeout = ${v}\n}\n`).diagnostics.map((d) => d.message);
    assert.deepEqual(messages('0s'), ['invalid timeout "0s": a timeout must be greater than 0']);
    assert.deepEqual(messages('-5'), ['invalid timeout "-5": expected a duration such as 90s, 1500ms, 2m']);
    assert.deepEqual(messages('1.5s'), ['invalid timeout "1.5s": expected a duration such as 90s, 1500ms, 2m']);
    assert.deepEqual(messages('597h'), ['invalid timeout "597h": the longest timeout is 596h']);
    assert.deepEqual(parse('task t {\n  retries = -1\n}\n').diagnostics.map((d) => d.code), ['invalid-value']);
  });

  it('reports a missing "{" and still reads the body', () => {
    const text = 'task a\n  cmd = x\n}\ntask b oops\n  cmd = y\n}\n';
    assert.equal(
      rendered(text),
      `manifest.txt:1:7: error: expected "{" after task name
    1 | task a
      |       ^
manifest.txt:4:8: error: expected "{" after task name
    4 | task b oops
      |        ^^^^
2 errors`,
    );
    assert.deepEqual(parse(text).manifest.tasks.map((t) => [t.name, t.cmd.value]), [['a', 'x'], ['b', 'y']]);
  });

  it('reports a missing "}" at the end of the file at the task keyword', () => {
    assert.equal(
      rendered('# x\ntask build {\n  cmd = make\n\n'),
      `manifest.txt:2:1: error: expected "}" to close task "build" (opened at line 2)
    2 | task build {
      | ^^^^
  the file ends at line 4
1 error`,
    );
    // The task is kept so later stages can still check it.
    assert.deepEqual(parse('task build {\n  cmd = make').manifest.tasks.map((t) => t.cmd.value), ['make']);
  });

  it('treats a nested task line as a missing "}" and continues with the new task', () => {
    const text = 'task a {\n  cmd = x\ntask b {\n  cmd = y\n}\n';
    assert.equal(
      rendered(text),
      `manifest.txt:1:1: error: expected "}" to close task "a" (opened at line 1)
    1 | task a {
      | ^^^^
  found "task" at line 3 before the block was closed
1 error`,
    );
    assert.deepEqual(parse(text).manifest.tasks.map((t) => [t.name, t.cmd.value]), [['a', 'x'], ['b', 'y']]);
  });

  it('reports lines outside a block and body lines without "="', () => {
    assert.equal(
      rendered('cmd = x\ntask t {\n  inputs\n  = a\n}\n}\n'),
      `manifest.txt:1:1: error: expected "task NAME {"
    1 | cmd = x
      | ^^^^^^^
manifest.txt:3:3: error: expected "key = value"
    3 |   inputs
      |   ^^^^^^
manifest.txt:4:3: error: expected a key before "="
    4 |   = a
      |   ^
manifest.txt:6:1: error: expected "task NAME {"
    6 | }
      | ^
4 errors`,
    );
  });

  it('reports text after braces', () => {
    assert.equal(
      rendered('task t { cmd = x\n} trailing\n'),
      `manifest.txt:1:10: error: expected a line break after "{" (put each "key = value" on its own line)
    1 | task t { cmd = x
      |          ^^^^^^^
manifest.txt:2:3: error: expected a line break after "}"
    2 | } trailing
      |   ^^^^^^^^
2 errors`,
    );
  });

  it('collects every problem in one pass, in source order', () => {
    const text = 'task 1x {\n  bogus = 1\n}\ntask ok {\n  retries = many\n  outputs = ../o\n  deps = "x\n';
    assert.deepEqual(
      parse(text).diagnostics.map((d) => [d.code, d.span?.line]),
      [
        ['invalid-task-name', 1],
        ['unknown-key', 2],
        ['manifest-syntax', 4],
        ['invalid-value', 5],
        ['path-escape', 6],
        ['manifest-syntax', 7],
      ],
    );
  });

  it('never throws on arbitrary input', () => {
    const pieces = ['task', ' ', 'a', '{', '}', '=', '"', '\\', '\n', '\r\n', '#', ',', 'inputs', 'cmd', '..', '/', '\t', '*', '1'];
    let seed = 42;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let n = 0; n < 500; n++) {
      let text = '';
      for (let k = next() % 60; k > 0; k--) text += pieces[next() % pieces.length];
      const r = parse(text);
      for (const d of r.diagnostics) assert.ok(d.span !== undefined && d.span.line >= 1 && d.span.col >= 1, text);
    }
  });
});
