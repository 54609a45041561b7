import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { Rig, events, statuses } from '../helpers/rig.js';

describe('task keys', () => {
  let rig: Rig;
  beforeEach(() => (rig = new Rig()));
  afterEach(() => rig.cleanup());

  const upstream = (version: string): string => `task gen {
  cmd = echo ${version} > a.txt
  outputs = a.txt
}

# "use" reads a.txt without declaring it: only the dependency's result ties it to "gen".
task use {
  cmd = cat a.txt > b.txt
  outputs = b.txt
  deps = gen
}
`;

  test('a changed upstream result invalidates the downstream task (the original restored a stale one)', async () => {
    rig.write({ 'm.txt': upstream('v1') });
    assert.equal((await rig.run(['m.txt'])).code, 0);
    assert.equal(rig.read('b.txt'), 'v1\n');

    rig.write({ 'm.txt': upstream('v2') });
    const r = await rig.run(['--json', 'm.txt']);
    assert.deepEqual(statuses(r.stdout), { gen: 'executed', use: 'executed' });
    assert.equal(rig.read('b.txt'), 'v2\n');

    // Back to v1: both come from the cache, and b.txt matches a.txt again.
    rig.write({ 'm.txt': upstream('v1') });
    const back = await rig.run(['--json', 'm.txt']);
    assert.deepEqual(statuses(back.stdout), { gen: 'cached', use: 'cached' });
    assert.equal(rig.read('b.txt'), 'v1\n');
  });

  test('a dependency that re-runs but produces the same result does not invalidate its dependents', async () => {
    rig.write({ 'm.txt': upstream('same'), 'x': '1' });
    assert.equal((await rig.run(['m.txt'])).code, 0);
    // Change gen's command text but not what it writes.
    rig.write({ 'm.txt': upstream('same').replace('echo same', 'echo  same') });
    const r = await rig.run(['--json', 'm.txt']);
    assert.deepEqual(statuses(r.stdout), { gen: 'executed', use: 'cached' });
  });

  test('declared env values enter the key; unset and empty are different', async () => {
    rig.write({
      'm.txt': `task t {
  cmd = printf '%s|%s' "\${MODE-unset}" "\${OTHER-unset}" > out.txt
  outputs = out.txt
  env = MODE
}
`,
    });
    const run = async (env: NodeJS.ProcessEnv) => {
      const r = await rig.run(['--json', 'm.txt'], { env });
      assert.equal(r.code, 0, r.stderr);
      return statuses(r.stdout).t;
    };
    assert.equal(await run({}), 'executed');
    assert.equal(rig.read('out.txt'), 'unset|unset');
    assert.equal(await run({}), 'cached');
    assert.equal(await run({ MODE: '' }), 'executed');
    assert.equal(rig.read('out.txt'), '|unset');
    assert.equal(await run({ MODE: 'fast' }), 'executed');
    assert.equal(rig.read('out.txt'), 'fast|unset');
    // Undeclared variables neither reach the command nor change the key.
    assert.equal(await run({ MODE: 'fast', OTHER: 'x' }), 'cached');
    assert.equal(rig.read('out.txt'), 'fast|unset');
  });

  test('inputs by directory and glob; adding a matching file re-runs, an unrelated one does not', async () => {
    rig.write({
      'm.txt': `task count {
  cmd = cat src/*.c lib/* | wc -l > n.txt
  inputs = src/**/*.c, lib
  outputs = n.txt
}
`,
      'src/a.c': 'a\n',
      'src/deep/b.c': 'b\n',
      'lib/x': 'x\n',
      'README': 'not an input\n',
    });
    const status = async () => statuses((await rig.run(['--json', 'm.txt'])).stdout).count;
    assert.equal(await status(), 'executed');
    assert.equal(await status(), 'cached');
    rig.write({ 'README': 'changed\n', 'src/notes.txt': 'no match\n' });
    assert.equal(await status(), 'cached');
    rig.write({ 'src/c.c': 'c\n' });
    assert.equal(await status(), 'executed');
    rig.write({ 'lib/sub/y': 'y\n' });
    assert.equal(await status(), 'executed');
  });

  test('the executable bit of an input is part of the key', async () => {
    rig.write({ 'm.txt': 'task t {\n  cmd = ls -l tool.sh | cut -c1-4 > mode.txt\n  inputs = tool.sh\n  outputs = mode.txt\n}\n', 'tool.sh': 'echo hi\n' });
    assert.equal(statuses((await rig.run(['--json', 'm.txt'])).stdout).t, 'executed');
    rig.writeExecutable('tool.sh', 'echo hi\n');
    assert.equal(statuses((await rig.run(['--json', 'm.txt'])).stdout).t, 'executed');
  });

  test('keys do not depend on where the checkout is (two workspaces, one shared cache)', async () => {
    const other = new Rig();
    try {
      const files = { 'm.txt': 'task t {\n  cmd = sort in.txt > out.txt\n  inputs = in.txt\n  outputs = out.txt\n}\n', 'in.txt': 'b\na\n' };
      rig.write(files);
      other.write(files);
      const cache = rig.path('shared-cache');
      const a = await rig.run(['--json', '--cache-dir', cache, 'm.txt']);
      const b = await other.run(['--json', '--cache-dir', cache, 'm.txt']);
      assert.equal(statuses(a.stdout).t, 'executed');
      assert.equal(statuses(b.stdout).t, 'cached');
      const key = (out: string) => events(out).find((e) => e.type === 'task-finished')?.key;
      assert.equal(key(a.stdout), key(b.stdout));
      assert.equal(other.read('out.txt'), 'a\nb\n');
    } finally {
      other.cleanup();
    }
  });
});
