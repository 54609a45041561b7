import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Rig, rigsRemovedAfter } from '../helpers/rig.js';

// The no-op fast path (src/cli/fast-noop.ts, src/state/up-to-date-stamp.ts) on the real CLI.
// Whether it answered a run is seen from .reprovm/graph.json: the full CLI writes it back when
// it is missing, the fast path never reads or writes it.

const MANIFEST = `task a {
  cmd = tr a-z A-Z < a.txt > out/a.txt
  inputs = a.txt
  outputs = out/a.txt
}

task b {
  cmd = tr a-z A-Z < b.txt > out/b.txt
  inputs = b.txt
  outputs = out/b.txt
}

task greet {
  cmd = printf '%s\\n' "$GREETING" > out/greet.txt
  env = GREETING
  outputs = out/greet.txt
}
`;

const SUMMARY_ALL_UP_TO_DATE = /^reprovm: ok: 3 tasks: 0 executed, 0 restored from cache, 3 up to date, 0 failed, 0 skipped in \d+\.\d\ds \(cache saved [^)]+\)\n$/;
const ENV = { GREETING: 'hello' };

const newRig = rigsRemovedAfter('reprovm-fastnoop-');
const rigs: Rig[] = [];
let next = 0;

/** A workspace whose sources are older than the stat memo's racy window (2 s), so a run can stamp it. */
function takeRig(): Rig {
  const rig = rigs[next++];
  assert.ok(rig, 'not enough rigs prepared');
  return rig;
}

const graphFile = (rig: Rig): string => rig.path('.reprovm/graph.json');
const stampFile = (rig: Rig): string => rig.path('.reprovm/up-to-date.json');

/** Builds, checks the stamp exists, and removes graph.json so that the next run shows which path it took. */
async function stamped(rig: Rig): Promise<void> {
  const r = await rig.run(['-j', '4', 'manifest.txt'], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(stampFile(rig)), 'a successful run of old sources leaves a stamp');
  rmSync(graphFile(rig));
}

async function noop(rig: Rig, args: readonly string[] = ['manifest.txt'], env: NodeJS.ProcessEnv = ENV): Promise<{ stdout: string; fast: boolean }> {
  const r = await rig.run(args, { env });
  assert.equal(r.code, 0, r.stderr);
  return { stdout: r.stdout, fast: !existsSync(graphFile(rig)) };
}

describe('no-op fast path', () => {
  before(async () => {
    for (let i = 0; i < 12; i++) {
      const rig = newRig();
      rig.write({ 'manifest.txt': MANIFEST, 'a.txt': 'alpha\n', 'b.txt': 'beta\n', 'out/.keep': '' });
      rigs.push(rig);
    }
    await sleep(2200);
  });

  test('answers a no-op with the same summary, audit entries and run history as a full run', async () => {
    const rig = takeRig();
    await stamped(rig);
    const history = readFileSync(rig.path('.reprovm/run-stats.jsonl'), 'utf8').split('\n').length;
    const r = await noop(rig, ['-j', '8', '--no-progress', 'manifest.txt']);
    assert.ok(r.fast, 'the fast path answered');
    assert.match(r.stdout, SUMMARY_ALL_UP_TO_DATE);
    assert.equal(readFileSync(rig.path('.reprovm/run-stats.jsonl'), 'utf8').split('\n').length, history + 1);
    const types = readFileSync(rig.path('.reprovm/audit.log'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type);
    assert.deepEqual(types.slice(-3), ['config.loaded', 'run.started', 'run.finished']);
    const verify = await rig.run(['audit', 'verify']);
    assert.equal(verify.code, 0, verify.stderr);
    // -q prints the summary too, like the full run.
    assert.match((await noop(rig, ['-q', 'manifest.txt'])).stdout, SUMMARY_ALL_UP_TO_DATE);
  });

  test('a changed input, output or manifest goes down the full path and is rebuilt', async () => {
    const rig = takeRig();
    await stamped(rig);
    rig.write({ 'a.txt': 'ALPHA changed\n' });
    let r = await noop(rig);
    assert.equal(r.fast, false);
    assert.match(r.stdout, /1 executed/);
    assert.equal(rig.read('out/a.txt'), 'ALPHA CHANGED\n');

    rmSync(graphFile(rig));
    writeFileSync(rig.path('out/b.txt'), 'tampered\n');
    r = await noop(rig);
    assert.equal(r.fast, false);
    assert.match(r.stdout, /1 restored from cache/);
    assert.equal(rig.read('out/b.txt'), 'BETA\n');

    rmSync(graphFile(rig));
    rmSync(rig.path('out/b.txt'));
    r = await noop(rig);
    assert.equal(r.fast, false);
    assert.equal(rig.read('out/b.txt'), 'BETA\n');

    rig.write({ 'manifest.txt': MANIFEST.replace('tr a-z A-Z < b.txt', 'tr a-y A-Y < b.txt') });
    rmSync(graphFile(rig));
    r = await noop(rig);
    assert.equal(r.fast, false);
    assert.match(r.stdout, /1 executed/);
  });

  test('a changed value of a declared environment variable goes down the full path', async () => {
    const rig = takeRig();
    await stamped(rig);
    const r = await noop(rig, ['manifest.txt'], { GREETING: 'bonjour' });
    assert.equal(r.fast, false);
    assert.match(r.stdout, /1 executed/);
    assert.equal(rig.read('out/greet.txt'), 'bonjour\n');
    // Unset is not the same as empty.
    rmSync(graphFile(rig));
    assert.equal((await noop(rig, ['manifest.txt'], { GREETING: '' })).fast, false);
  });

  test('other targets, other options and REPROVM_FAST_NOOP=0 go down the full path', async () => {
    const rig = takeRig();
    await stamped(rig);
    assert.equal((await noop(rig, ['manifest.txt', 'a'])).fast, false, 'a stamp is for the targets it was made for');
    // That run stamped the target list ["a"]: the same list is answered fast, the whole manifest is not.
    rmSync(graphFile(rig));
    assert.equal((await noop(rig, ['manifest.txt', 'a'])).fast, true);
    assert.equal((await noop(rig, ['manifest.txt'])).fast, false);
    rmSync(graphFile(rig));
    const verbose = await noop(rig, ['-v', 'manifest.txt']);
    assert.equal(verbose.fast, false, '-v prints every task: the full CLI does that');
    rmSync(graphFile(rig));
    assert.equal((await noop(rig, ['manifest.txt'], { ...ENV, REPROVM_FAST_NOOP: '0' })).fast, false);
    rmSync(graphFile(rig));
    assert.equal((await noop(rig, ['manifest.txt'])).fast, true);
  });

  test('a configuration whose side channels a no-op still serves goes down the full path', async () => {
    const rig = takeRig();
    await stamped(rig);
    for (const conf of ['[cache]\nmax_age_days = 30\n', '[notifications]\non = always\nwebhook_url = http://127.0.0.1:9/hook\ntimeout_seconds = 1\nretries = 0\n', '[logging]\nlevel = debug\n', '[unknown_section]\nx = 1\n']) {
      rig.write({ 'reprovm.conf': conf });
      const r = await rig.run(['manifest.txt'], { env: ENV });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(existsSync(graphFile(rig)), `full path with:\n${conf}`);
      rmSync(graphFile(rig));
    }
    rig.write({ 'reprovm.conf': '[notifications]\non = failure\nwebhook_url = http://127.0.0.1:9/hook\n' });
    assert.equal((await noop(rig)).fast, true, 'webhooks on failure only: a no-op sends nothing');
  });

  test('no stamp is left by a failed run, nor for directory or glob inputs, nor for tasks that never cache', async () => {
    const rig = takeRig();
    await stamped(rig);
    rig.write({ 'manifest.txt': `${MANIFEST}\ntask broken {\n  cmd = exit 3\n}\n` });
    const failed = await rig.run(['manifest.txt'], { env: ENV });
    assert.equal(failed.code, 1);
    assert.equal(existsSync(stampFile(rig)), false, 'the failed run removed the stamp');

    for (const extra of ['task d {\n  cmd = cat in/* > out/d.txt\n  inputs = in\n  outputs = out/d.txt\n}\n', 'task g {\n  cmd = cat in/* > out/g.txt\n  inputs = in/*.txt\n  outputs = out/g.txt\n}\n', 'task u {\n  cmd = true\n  cache = false\n}\n']) {
      rig.write({ 'manifest.txt': `${MANIFEST}\n${extra}`, 'in/x.txt': 'x\n' });
      for (let i = 0; i < 2; i++) assert.equal((await rig.run(['manifest.txt'], { env: ENV })).code, 0);
      assert.equal(existsSync(stampFile(rig)), false, extra);
    }
  });

  test('a torn or foreign stamp is ignored', async () => {
    const rig = takeRig();
    await stamped(rig);
    const good = readFileSync(stampFile(rig), 'utf8');
    for (const bad of [good.slice(0, good.length / 2), '{"v":99}', '[]', 'null']) {
      writeFileSync(stampFile(rig), bad);
      const r = await noop(rig);
      assert.equal(r.fast, false, bad);
      assert.match(r.stdout, SUMMARY_ALL_UP_TO_DATE);
      rmSync(graphFile(rig));
    }
  });

  test('inputs hashed within the racy window are not vouched for: fresh sources leave no stamp', async () => {
    const rig = newRig();
    rig.write({ 'manifest.txt': MANIFEST, 'a.txt': 'alpha\n', 'b.txt': 'beta\n', 'out/.keep': '' });
    const r = await rig.run(['manifest.txt'], { env: ENV });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(stampFile(rig)), false);
  });
});

test('the fast path knows every subcommand name (a manifest is never mistaken for one)', async () => {
  const { COMMAND_NAMES } = await import('../../src/cli/command-names.js');
  const rig = newRig();
  const help = await rig.run(['--help']);
  assert.equal(help.code, 0, help.stderr);
  const section = help.stdout.slice(help.stdout.indexOf('Commands:'));
  const listed = [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]);
  // `help` is commander's implicit command: it works but is not listed.
  assert.deepEqual([...listed, 'help'].sort(), [...COMMAND_NAMES].sort());
});
