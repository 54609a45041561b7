import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { CLI, HELLO_C, HELLO_MANIFEST, Rig, events } from '../helpers/rig.js';

describe('command line', () => {
  let rig: Rig;
  beforeEach(() => (rig = new Rig()));
  afterEach(() => rig.cleanup());

  test('every manifest mistake is reported in one pass with file:line:col, the line and a caret; exit 2', async () => {
    rig.write({
      'bad.txt': `task build {
  cmd = gcc -o hello hello.c
  inptus = hello.c
}

task build {
  cmd = true
}

task test {
  cmd = ./hello
  deps = biuld
}

task 9lives {
  cmd = true
}

task escape {
  outputs = ../outside.txt
}

task open {
  cmd = true
`,
    });
    const r = await rig.run(['bad.txt']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    const expected = [
      'bad.txt:3:3: error: unknown key "inptus" in task "build"',
      '    3 |   inptus = hello.c',
      '      |   ^^^^^^',
      '  did you mean "inputs"?',
    ].join('\n');
    assert.ok(r.stderr.includes(expected), r.stderr);
    assert.match(r.stderr, /^bad\.txt:6:6: error: duplicate task "build"$/m);
    assert.match(r.stderr, /^bad\.txt:12:10: error: task "test" depends on unknown task "biuld"$/m);
    assert.match(r.stderr, /did you mean "build"\?/);
    assert.match(r.stderr, /^bad\.txt:15:6: error: invalid task name "9lives"/m);
    assert.match(r.stderr, /^bad\.txt:20:13: error: output path "\.\.\/outside\.txt" escapes the workspace$/m);
    assert.match(r.stderr, /^bad\.txt:23:1: error: expected "}" to close task "open"/m);
    assert.match(r.stderr, /^\d+ errors$/m);
  });

  test('a dependency cycle prints the whole path', async () => {
    rig.write({ 'm.txt': 'task a {\n  deps = c\n}\n\ntask b {\n  deps = a\n}\n\ntask c {\n  deps = b\n}\n' });
    const r = await rig.run(['m.txt']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /error: dependency cycle: a -> c -> b -> a/);
  });

  test('the same output declared by two tasks is an error', async () => {
    rig.write({ 'm.txt': 'task a {\n  outputs = x\n}\n\ntask b {\n  outputs = x\n}\n' });
    const r = await rig.run(['m.txt']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /m\.txt:6:13: error: output "x" of task "b" is also declared by task "a"/);
  });

  test('an unknown target on the command line is a usage error with a suggestion', async () => {
    rig.write({ 'manifest.txt': HELLO_MANIFEST, 'hello.c': HELLO_C });
    const r = await rig.run(['manifest.txt', 'tset']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /reprovm: error: unknown target "tset"\n {2}did you mean "test"\?/);
  });

  test('targets select their transitive dependencies only', async () => {
    rig.write({ 'manifest.txt': HELLO_MANIFEST, 'hello.c': HELLO_C });
    const r = await rig.run(['--json', 'manifest.txt', 'test']);
    assert.equal(r.code, 0, r.stderr);
    const started = events(r.stdout).find((e) => e.type === 'run-started');
    assert.deepEqual(started?.tasks, ['build', 'test']);
  });

  test('a missing manifest and bad option values are clear usage errors', async () => {
    const missing = await rig.run(['nope.txt']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read manifest "nope.txt": no such file/);
    rig.write({ 'm.txt': 'task a {\n  cmd = true\n}\n' });
    const badJobs = await rig.run(['-j', '0', 'm.txt']);
    assert.equal(badJobs.code, 2);
    assert.match(badJobs.stderr, /option '-j, --jobs <n>' argument '0' is invalid. expected a whole number of at least 1/);
    const badCodec = await rig.run(['--compress', 'gzip', 'm.txt']);
    assert.equal(badCodec.code, 2);
    assert.match(badCodec.stderr, /Allowed choices are zstd, lz4, none/);
  });

  test('absolute inputs need --allow-absolute-inputs; absolute outputs are never allowed', async () => {
    const outside = new Rig();
    try {
      outside.write({ 'data.txt': 'outside\n' });
      rig.write({ 'm.txt': `task t {\n  cmd = cat ${outside.path('data.txt')} > copy.txt\n  inputs = ${outside.path('data.txt')}\n  outputs = copy.txt\n}\n` });
      const refused = await rig.run(['m.txt']);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /absolute input path ".*data\.txt" is not allowed \(pass --allow-absolute-inputs/);
      const allowed = await rig.run(['--allow-absolute-inputs', 'm.txt']);
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.equal(rig.read('copy.txt'), 'outside\n');
      rig.write({ 'm.txt': `task t {\n  cmd = true\n  outputs = ${outside.path('x.txt')}\n}\n` });
      const out = await rig.run(['--allow-absolute-inputs', 'm.txt']);
      assert.equal(out.code, 2);
      assert.match(out.stderr, /absolute output path|escapes the workspace|not allowed/);
    } finally {
      outside.cleanup();
    }
  });

  test('--list-tasks, --version', async () => {
    rig.write({ 'manifest.txt': HELLO_MANIFEST.replace('task build {', 'task build {\n  description = compile it'), 'hello.c': HELLO_C });
    const list = await rig.run(['--list-tasks', 'manifest.txt']);
    assert.equal(list.stdout, 'build\tcompile it\ntest\ncheck' + 'sum\n');
    const version = await rig.run(['--version']);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  test('--graph prints the tree with the last run\'s statuses and inferred edges', async () => {
    rig.write({ 'manifest.txt': HELLO_MANIFEST.replace('  deps = build test\n', '  deps = test\n'), 'hello.c': HELLO_C });
    const before = await rig.run(['--graph', 'manifest.txt']);
    assert.equal(before.stdout, '[ ] checksum\n├── [ ] build (inferred)\n└── [ ] test\n    └── [ ] build\n');
    rig.write({ 'manifest.txt': HELLO_MANIFEST.replace('  deps = build test\n', '  deps = test\n').replace('./hello > test_output.txt', 'exit 1') });
    await rig.run(['manifest.txt']);
    const after = await rig.run(['--graph', 'manifest.txt']);
    assert.equal(after.stdout, '[-] checksum\n├── [✔] build (inferred)\n└── [X] test\n    └── [✔] build\n');
  });

  test('--dry-run says what would run and why, and runs nothing', async () => {
    rig.write({ 'manifest.txt': HELLO_MANIFEST, 'hello.c': HELLO_C });
    const first = await rig.run(['-n', 'manifest.txt']);
    assert.equal(first.code, 0);
    assert.match(first.stdout, /^\[build\] would run: no cached result for this key$/m);
    assert.match(first.stdout, /^\[test\] would run: dependency "build" will run$/m);
    assert.match(first.stdout, /reprovm: dry run: 3 would run, 0 would be restored, 0 up to date/);
    assert.equal(rig.exists('hello'), false);
    await rig.run(['manifest.txt']);
    const { rmSync } = await import('node:fs');
    rmSync(rig.path('checksums.txt'));
    const second = await rig.run(['-n', 'manifest.txt']);
    assert.match(second.stdout, /^\[build\] up to date: outputs match the cached result$/m);
    assert.match(second.stdout, /^\[checksum\] would restore: cached result found for this key$/m);
    assert.equal(rig.exists('checksums.txt'), false);
    rig.write({ 'hello.c': HELLO_C + '\n' });
    const third = await rig.run(['-n', 'manifest.txt']);
    assert.match(third.stdout, /^\[build\] would run: inputs, command or dependencies changed since the last run$/m);
  });

  test('on a terminal: a progress bar with done/total, hits and running tasks, then the summary', async () => {
    rig.write({ 'm.txt': 'task a {\n  cmd = sleep 0.3; echo hi\n}\n\ntask b {\n  cmd = sleep 0.5\n}\n' });
    // `script` gives the CLI a pseudo-terminal, as a developer's shell would.
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync('script', ['-qec', `"${process.execPath}" "${CLI}" -j 2 m.txt`, '/dev/null'], {
      cwd: rig.dir,
      env: { PATH: process.env.PATH, TERM: 'xterm' },
    }).toString();
    assert.match(out, /[░█] 0\/2 \| 0 cached \| 0 failed \| ETA -- \| a, b/);
    assert.match(out, /1\/2 \| 0 cached \| 0 failed \| ETA +\d/);
    assert.match(out, /\x1b\[32mok\x1b\[39m: 2 tasks: 2 executed/);
  });

  test('--json writes only NDJSON events on stdout', async () => {
    rig.write({ 'manifest.txt': HELLO_MANIFEST, 'hello.c': HELLO_C });
    const r = await rig.run(['--json', 'manifest.txt']);
    const evs = events(r.stdout);
    assert.equal(evs[0]?.type, 'run-started');
    assert.equal(evs.at(-1)?.type, 'run-finished');
    assert.deepEqual(evs.at(-1)?.summary, { ...(evs.at(-1)?.summary as object), total: 3, executed: 3, cached: 0, failed: 0, skipped: 0 });
  });
});
