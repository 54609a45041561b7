import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Rig, events, type RunResult } from '../helpers/rig.js';

const sha8 = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 8);

/** The lines printed under `[task] ...` by `explain` (its reasons, without the indent). */
function reasonsOf(stdout: string, task: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`[${task}] `));
  assert.ok(start >= 0, `no line for task "${task}" in:\n${stdout}`);
  const out: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith('  ')) break;
    out.push(line.slice(2));
  }
  return out;
}

const FILES_MANIFEST = `task build {
  cmd = cat src/*.c > all.txt
  inputs = src/*.c tool.sh
  outputs = all.txt
}
`;

const CHAIN_MANIFEST = `task gen {
  cmd = cat in.txt > gen.txt
  inputs = in.txt
  outputs = gen.txt
}

# "use" reads gen.txt without declaring it: only the dependency's result ties it to "gen".
task use {
  cmd = wc -c < gen.txt > use.txt
  outputs = use.txt
  deps = gen
}
`;

describe('reprovm explain', () => {
  let rig: Rig;
  beforeEach(() => (rig = new Rig()));
  afterEach(() => rig.cleanup());

  const ok = async (args: string[], env?: NodeJS.ProcessEnv): Promise<RunResult> => {
    const r = await rig.run(args, env ? { env } : {});
    assert.equal(r.code, 0, `reprovm ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
    return r;
  };

  test('never ran: "no previous record"; a dependent waits for it; nothing is written', async () => {
    rig.write({ 'm.txt': CHAIN_MANIFEST, 'in.txt': 'one\n' });
    const r = await ok(['explain', 'm.txt']);
    assert.equal(r.stdout, '[gen] would run\n  no previous record\n[use] would run\n  dependency "gen" will run\n');
    assert.equal(r.stderr, '');
    assert.deepEqual(readdirSync(rig.dir).sort(), ['in.txt', 'm.txt'], 'explain writes nothing to the workspace');
  });

  test('up to date, and restored because an output was deleted', async () => {
    rig.write({ 'm.txt': CHAIN_MANIFEST, 'in.txt': 'one\n' });
    await ok(['m.txt']);
    rmSync(rig.path('use.txt'));
    const r = await ok(['explain', 'm.txt']);
    assert.equal(
      r.stdout,
      '[gen] up to date\n  outputs match the cached result\n' +
        '[use] would restore\n  cached result found for this key\n  outputs in the workspace differ from the cached result\n',
    );
  });

  test('command changed: a short diff', async () => {
    rig.write({ 'm.txt': CHAIN_MANIFEST, 'in.txt': 'one\n' });
    await ok(['m.txt']);
    rig.write({ 'm.txt': CHAIN_MANIFEST.replace('cat in.txt > gen.txt', 'cat in.txt in.txt > gen.txt') });
    const r = await ok(['explain', 'm.txt', 'gen']);
    assert.equal(r.stdout, '[gen] would run\n  command changed\n    - cat in.txt > gen.txt\n    + cat in.txt in.txt > gen.txt\n');
  });

  test('input content changed, with both digests; inputs added and removed; the executable bit', async () => {
    rig.write({ 'm.txt': FILES_MANIFEST, 'src/a.c': 'a1\n', 'src/old.c': 'old\n', 'tool.sh': 'echo\n' });
    await ok(['m.txt']);
    rig.write({ 'src/a.c': 'a2\n' });
    assert.deepEqual(reasonsOf((await ok(['explain', 'm.txt'])).stdout, 'build'), [`input src/a.c changed (digest ${sha8('a1\n')}…→${sha8('a2\n')}…)`]);
    rig.write({ 'src/a.c': 'a1\n', 'src/b.c': 'b\n' });
    rmSync(rig.path('src/old.c'));
    assert.deepEqual(reasonsOf((await ok(['explain', 'm.txt'])).stdout, 'build'), ['input src/b.c added', 'input src/old.c removed']);
    rig.write({ 'src/old.c': 'old\n' });
    rmSync(rig.path('src/b.c'));
    chmodSync(rig.path('tool.sh'), 0o755);
    assert.deepEqual(reasonsOf((await ok(['explain', 'm.txt'])).stdout, 'build'), ['input tool.sh became executable']);
    await ok(['m.txt']);
    // Back to the first state: restored from the first run's record, and the change is still said.
    chmodSync(rig.path('tool.sh'), 0o644);
    const back = await ok(['explain', 'm.txt']);
    assert.match(back.stdout, /^\[build\] would restore$/m);
    assert.deepEqual(reasonsOf(back.stdout, 'build'), ['cached result found for this key', 'input tool.sh stopped being executable']);
  });

  test('env changed: named, its value never printed (text, --json, dry run, run --explain); unset vs empty', async () => {
    rig.write({ 'm.txt': 'task t {\n  cmd = printf %s "$TOKEN" > t.txt\n  outputs = t.txt\n  env = TOKEN\n}\n' });
    await ok(['m.txt'], { TOKEN: 'old-secret-4711' });
    const env = { TOKEN: 'new-secret-0815' };
    const outputs = [
      await ok(['explain', 'm.txt'], env),
      await ok(['explain', '--json', 'm.txt'], env),
      await ok(['-n', 'm.txt'], env),
      await ok(['-n', '--json', 'm.txt'], env),
      await ok(['run', '--explain', '--json', 'm.txt'], env),
      await ok(['run', '--explain', 'm.txt'], { TOKEN: 'third-secret-42' }),
    ];
    assert.deepEqual(reasonsOf(outputs[0]!.stdout, 't'), ['env TOKEN changed']);
    for (const r of outputs) {
      const all = r.stdout + r.stderr;
      assert.ok(all.includes('env TOKEN changed'), all);
      for (const value of ['old-secret-4711', 'new-secret-0815', 'third-secret-42']) assert.ok(!all.includes(value), `a value leaked:\n${all}`);
    }
    assert.match(outputs[5]!.stdout, /^\[t\] started \(env TOKEN changed\)$/m);
    assert.equal(rig.read('t.txt'), 'third-secret-42'); // the command itself did see it
    await ok(['m.txt'], {}); // TOKEN unset
    assert.deepEqual(reasonsOf((await ok(['explain', 'm.txt'], { TOKEN: '' })).stdout, 't'), ['env TOKEN changed']);
  });

  test('dependency produced different output', async () => {
    rig.write({ 'm.txt': CHAIN_MANIFEST, 'in.txt': 'one\n' });
    await ok(['m.txt']);
    rig.write({ 'in.txt': 'two!\n' });
    assert.deepEqual(reasonsOf((await ok(['explain', 'm.txt'])).stdout, 'use'), ['dependency "gen" will run']);
    await ok(['m.txt', 'gen']);
    const r = await ok(['explain', 'm.txt', 'use']);
    assert.equal(r.stdout, '[use] would run\n  dependency gen produced different output\n');
  });

  test('a corrupt record: "record found but corrupt", and explain leaves it where it is', async () => {
    rig.write({ 'm.txt': CHAIN_MANIFEST, 'in.txt': 'one\n' });
    await ok(['m.txt']);
    const key = String(events((await ok(['explain', '--json', 'm.txt', 'gen'])).stdout)[0]?.key);
    writeFileSync(rig.path(`.reprovm/cache/${key}.json`), '{ torn');
    rmSync(rig.path('gen.txt'));
    const r = await ok(['explain', 'm.txt', 'gen']);
    assert.equal(r.stdout, '[gen] would run\n  record found but corrupt\n');
    assert.ok(rig.exists(`.reprovm/cache/${key}.json`), 'not quarantined by explain');
    assert.equal(rig.exists('.reprovm/cache/quarantine'), false);
  });

  test('without workspace state: the newest record of the task in the cache is the previous one', async () => {
    rig.write({ 'm.txt': CHAIN_MANIFEST, 'in.txt': 'v1\n' });
    await ok(['m.txt', 'gen']);
    rig.write({ 'in.txt': 'v2\n' });
    await ok(['m.txt', 'gen']);
    rmSync(rig.path('.reprovm/state.json'));
    rig.write({ 'in.txt': 'v3\n' });
    const r = await ok(['explain', 'm.txt', 'gen']);
    assert.deepEqual(reasonsOf(r.stdout, 'gen'), [`input in.txt changed (digest ${sha8('v2\n')}…→${sha8('v3\n')}…)`]);
  });

  test('--json: one object per task with task, action, key and typed reasons', async () => {
    rig.write({ 'm.txt': CHAIN_MANIFEST, 'in.txt': 'one\n' });
    await ok(['m.txt']);
    rig.write({ 'in.txt': 'two\n' });
    const objs = events((await ok(['explain', '--json', 'm.txt'])).stdout) as unknown as Record<string, unknown>[];
    assert.equal(objs.length, 2);
    const [gen, use] = objs;
    assert.deepEqual(Object.keys(gen!), ['task', 'action', 'key', 'reasons']);
    assert.equal(gen!.task, 'gen');
    assert.equal(gen!.action, 'run');
    assert.match(String(gen!.key), /^[0-9a-f]{64}$/);
    const full = (s: string): string => createHash('sha256').update(s).digest('hex');
    assert.deepEqual(gen!.reasons, [
      { kind: 'input-changed', path: 'in.txt', from: full('one\n'), to: full('two\n'), text: `input in.txt changed (digest ${sha8('one\n')}…→${sha8('two\n')}…)` },
    ]);
    assert.deepEqual(use, { task: 'use', action: 'run', key: null, reasons: [{ kind: 'dependency-will-run', task: 'gen', text: 'dependency "gen" will run' }] });
  });

  test('the dry run lists the reasons under each task line and in task-planned events', async () => {
    rig.write({ 'm.txt': CHAIN_MANIFEST, 'in.txt': 'one\n' });
    await ok(['m.txt']);
    rig.write({ 'in.txt': 'two\n' });
    const r = await ok(['-n', 'm.txt']);
    const change = `input in.txt changed (digest ${sha8('one\n')}…→${sha8('two\n')}…)`;
    assert.equal(
      r.stdout,
      `[gen] would run: inputs, command or dependencies changed since the last run\n  ${change}\n` +
        '[use] would run: dependency "gen" will run\n' +
        'reprovm: dry run: 2 would run, 0 would be restored, 0 up to date\n',
    );
    const planned = events((await ok(['-n', '--json', 'm.txt'])).stdout).filter((e) => e.type === 'task-planned');
    assert.deepEqual(planned.map((e) => e.reasons), [[change], ['dependency "gen" will run']]);
  });

  test('run --explain: a one-line reason beside every task that executes', async () => {
    rig.write({ 'm.txt': FILES_MANIFEST, 'src/a.c': 'a1\n', 'src/old.c': 'old\n', 'tool.sh': 'echo\n' });
    const first = await ok(['run', '--explain', 'm.txt']);
    assert.match(first.stdout, /^\[build\] started \(no previous record\)$/m);
    rig.write({ 'src/a.c': 'a2\n', 'src/b.c': 'b\n' });
    const second = await ok(['--explain', 'm.txt']);
    assert.match(second.stdout, /^\[build\] started \(input src\/a\.c changed, \+1 more\)$/m);
    const json = await ok(['--explain', '--json', '--force', 'm.txt']);
    const started = events(json.stdout).find((e) => e.type === 'task-started');
    assert.equal(started?.explain, 'forced (--force)');
    const plain = await ok(['--force', '--json', 'm.txt']);
    assert.equal(events(plain.stdout).find((e) => e.type === 'task-started')?.explain, undefined, 'off by default');
  });
});
