import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Rig, events, type RunResult } from '../helpers/rig.js';

const MANIFEST = `task gen {
  cmd = cat in.txt > gen.txt
  inputs = in.txt
  outputs = gen.txt
}

# Reads its dependency's output (restored from the cache into the scratch dir) and runs an input script.
task use {
  cmd = ./tool.sh > use.txt
  inputs = tool.sh
  outputs = use.txt
  deps = gen
}

task stamp {
  cmd = mkdir -p out && printf 'one\\ntwo\\n%s\\nfour\\n' "$(date +%N)" > out/stamp.txt
  outputs = out
}

task noise {
  cmd = head -c 16 /dev/urandom > noise.bin
  outputs = noise.bin
}
`;

const TOOL = '#!/bin/sh\nprintf "lines: "\nwc -l < gen.txt\n';

/** Scratch dirs left in the temp dir by verify-repro (there must be none after a command). */
const scratchDirs = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('reprovm-repro-'));

/** A workspace with the example manifest, its input and its tool script. */
function exampleRig(): Rig {
  const rig = new Rig();
  rig.write({ 'm.txt': MANIFEST, 'in.txt': 'a\nb\nc\n' });
  rig.writeExecutable('tool.sh', TOOL);
  return rig;
}

describe('reprovm verify-repro', () => {
  let rig: Rig;
  beforeEach(() => (rig = exampleRig()));
  afterEach(() => rig.cleanup());

  const run = async (args: string[], code: number): Promise<RunResult> => {
    const r = await rig.run(args);
    assert.equal(r.code, code, `reprovm ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
    return r;
  };

  test('deterministic tasks pass, including one that reads a dependency output and runs an executable input', async () => {
    await run(['m.txt'], 0);
    const before = scratchDirs();
    const r = await run(['verify-repro', 'm.txt', 'gen', 'use'], 0);
    assert.equal(
      r.stdout,
      '[gen] reproducible (1 run)\n[use] reproducible (1 run)\n' +
        'reprovm: verify-repro: 2 reproducible, 0 NOT reproducible, 0 failed, 0 not cached (skipped)\n',
    );
    assert.deepEqual(scratchDirs(), before, 'scratch dirs are removed');
  });

  test('nondeterministic outputs are flagged: the first differing line of text, the digests of binary', async () => {
    await run(['m.txt'], 0);
    const r = await run(['verify-repro', 'm.txt'], 1);
    const lines = r.stdout.split('\n');
    assert.match(lines.find((l) => l.startsWith('[stamp]')) ?? '', /^\[stamp\] NOT reproducible: out\/stamp\.txt differs at line 3: "\d+" vs "\d+"$/);
    assert.match(lines.find((l) => l.startsWith('[noise]')) ?? '', /^\[noise\] NOT reproducible: noise\.bin differs \(cached [0-9a-f]{12}…, new [0-9a-f]{12}…\)$/);
    assert.match(r.stdout, /reprovm: verify-repro: 2 reproducible, 2 NOT reproducible, 0 failed, 0 not cached \(skipped\)\n$/);

    const json = await run(['verify-repro', 'm.txt', '--json', 'stamp', 'noise'], 1);
    const [stamp, noise] = events(json.stdout) as unknown as Array<{
      task: string;
      status: string;
      differences: Array<{ path: string; cachedDigest: string; newDigest: string; firstDifference?: { line: number; cached: string; new: string } }>;
    }>;
    assert.equal(stamp?.status, 'not-reproducible');
    const d = stamp!.differences[0]!;
    assert.equal(d.path, 'out/stamp.txt');
    assert.equal(d.cachedDigest.length, 64);
    assert.notEqual(d.cachedDigest, d.newDigest);
    assert.equal(d.firstDifference?.line, 3);
    assert.equal(d.firstDifference?.cached, rig.read('out/stamp.txt').split('\n')[2]);
    assert.equal(noise?.status, 'not-reproducible');
    assert.equal(noise!.differences[0]!.path, 'noise.bin');
    assert.equal(noise!.differences[0]!.firstDifference, undefined, 'no line diff for binary output');
  });

  test('the workspace outputs are untouched (bytes and mtime)', async () => {
    await run(['m.txt'], 0);
    const files = ['gen.txt', 'use.txt', 'out/stamp.txt', 'noise.bin'];
    const snap = (): Array<[string, string, number]> =>
      files.map((f) => [f, readFileSync(rig.path(f)).toString('hex'), statSync(rig.path(f)).mtimeMs]);
    const before = snap();
    await run(['verify-repro', 'm.txt', '--runs', '2'], 1);
    assert.deepEqual(snap(), before);
  });

  test('--runs 3 repeats every task', async () => {
    await run(['m.txt'], 0);
    rig.write({
      'm.txt': `${MANIFEST}
task count {
  cmd = echo x >> runs.log; echo same > count.txt
  outputs = count.txt
}
`,
    });
    await run(['m.txt', 'count'], 0);
    const r = await run(['verify-repro', 'm.txt', '--runs', '3', 'gen', 'count'], 0);
    assert.match(r.stdout, /^\[gen\] reproducible \(3 runs\)\n\[count\] reproducible \(3 runs\)\n/);
    assert.equal(rig.read('runs.log'), 'x\n', 'the re-executions append to their scratch copy, not the workspace');
  });

  test('tasks without a cached result are skipped; a failing command is reported; usage errors exit 2', async () => {
    let r = await run(['verify-repro', 'm.txt', 'gen', 'use'], 0);
    assert.equal(
      r.stdout,
      '[gen] not cached, skipped (no cached result for this key)\n[use] not cached, skipped (dependency "gen" is not cached)\n' +
        'reprovm: verify-repro: 0 reproducible, 0 NOT reproducible, 0 failed, 2 not cached (skipped)\n',
    );
    await run(['m.txt', 'gen'], 0);
    // The command only succeeds in the workspace (it reads an undeclared file).
    rig.write({ 'm.txt': MANIFEST.replace('cat in.txt > gen.txt', 'cat in.txt secret.txt > gen.txt'), 'secret.txt': 's\n' });
    await run(['m.txt', 'gen'], 0);
    r = await run(['verify-repro', 'm.txt', 'gen'], 1);
    assert.match(r.stdout, /^\[gen\] FAILED: task "gen" failed with exit code 1\n/);
    await run(['verify-repro', 'm.txt', 'nope'], 2);
    await run(['verify-repro', 'm.txt', '--runs', '0'], 2);
  });
});

describe('run --check-repro', () => {
  let rig: Rig;
  beforeEach(() => (rig = exampleRig()));
  afterEach(() => rig.cleanup());

  test('a cached nondeterministic task makes the run exit 1 with a warning', async () => {
    await rig.run(['m.txt']);
    const r = await rig.run(['m.txt', 'stamp', '--check-repro', '1', '--json']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const warnings = events(r.stdout).filter((e) => e.type === 'warning');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.task, 'stamp');
    assert.match(String(warnings[0]!.message), /task "stamp" is NOT reproducible: out\/stamp\.txt differs at line 3/);
    const finished = events(r.stdout).find((e) => e.type === 'run-finished');
    assert.equal(finished?.exitCode, 1);

    const human = await rig.run(['m.txt', 'stamp', '--check-repro', '1']);
    assert.equal(human.code, 1);
    assert.match(human.stderr, /warning: --check-repro: task "stamp" is NOT reproducible/);
  });

  test('cached deterministic tasks pass; rate is validated', async () => {
    await rig.run(['m.txt']);
    const r = await rig.run(['m.txt', 'use', '--check-repro', '1', '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(events(r.stdout).filter((e) => e.type === 'warning'), []);
    for (const bad of ['0', '1.5', 'x']) assert.equal((await rig.run(['m.txt', '--check-repro', bad])).code, 2);
  });
});
