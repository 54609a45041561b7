/**
 * Options given before a subcommand reach it (`reprovm --config FILE cache stats`), the
 * subcommand's own flags win over them, and the program's defaults never replace what the user
 * gave the subcommand. Maintenance commands redact environment-only secrets from the audit log.
 * The read-only commands follow the configuration too (`graph --config`, `verify-repro` jobs).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { rigsRemovedAfter } from '../helpers/rig.js';

const newRig = rigsRemovedAfter('reprovm-command-options-');

const TWO_TASKS = 'task a {\n  cmd = echo one; sleep 0.3; echo two\n}\ntask b {\n  cmd = echo three\n}\n';

describe('options before the subcommand', () => {
  it('--config before cache stats, health, backup list and audit show is honoured', async () => {
    const rig = newRig();
    rig.write({ 'alt.conf': '[cache]\ncache_dir = elsewhere\n', 'm.txt': 'task a {\n  cmd = printf a > a.txt\n  outputs = a.txt\n}\n' });
    assert.equal((await rig.run(['--config', 'alt.conf', 'm.txt', '-q'])).code, 0);
    const stats = await rig.run(['--config', 'alt.conf', 'cache', 'stats', '--json']);
    assert.equal(stats.code, 0, stats.stderr);
    const s = JSON.parse(stats.stdout) as { cacheDir: string; records: number };
    assert.equal(s.cacheDir, rig.path('elsewhere'));
    assert.equal(s.records, 1);
    const health = await rig.run(['--config', 'alt.conf', 'health']);
    assert.match(health.stdout, /cache-dir: .*elsewhere is writable/);
    const backups = await rig.run(['--config', 'alt.conf', 'backup', 'list']);
    assert.equal(backups.code, 0, backups.stderr);
    assert.match(backups.stdout, /no backups in dir .*elsewhere\/backups/);
    const audit = await rig.run(['--config', 'alt.conf', 'audit', 'show', '--json']);
    assert.equal(audit.code, 0, audit.stderr);
    assert.ok(audit.stdout.includes('"run.started"'), 'the run\'s entries, from elsewhere/audit.log');
  });

  it('the subcommand\'s own flag wins over the one before it', async () => {
    const rig = newRig();
    rig.write({ 'alt.conf': '[cache]\ncache_dir = elsewhere\n' });
    const r = await rig.run(['--config', 'missing.conf', 'cache', 'stats', '--config', 'alt.conf', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { cacheDir: string }).cacheDir, rig.path('elsewhere'));
  });

  it('run: a flag given to the subcommand is not replaced by the program\'s default', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': TWO_TASKS });
    // Grouped output holds a task's lines until it ends: b (fast) is printed whole before a's first line.
    const grouped = (out: string): boolean => out.indexOf('[b] three') < out.indexOf('[a] one');
    for (const args of [['run', '--output-mode', 'grouped', '-f', 'm.txt'], ['--output-mode', 'grouped', 'run', '-f', 'm.txt']]) {
      const r = await rig.run(args);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(grouped(r.stdout), `${args.join(' ')}:\n${r.stdout}`);
    }
    const prefixed = await rig.run(['run', '-f', 'm.txt']);
    assert.ok(!grouped(prefixed.stdout), prefixed.stdout);
  });
});

describe('maintenance audit entries', () => {
  it('redact secrets held only in the environment', async () => {
    const rig = newRig();
    const secret = 'env-only-signing-key-3f9c1d';
    const env = { REPROVM_CACHE_SIGNING_KEY: secret };
    rig.write({ 'm.txt': 'task a {\n  cmd = printf a > a.txt\n  outputs = a.txt\n}\n' });
    assert.equal((await rig.run(['m.txt', '-q'], { env })).code, 0);
    const created = await rig.run(['backup', 'create', '--json'], { env });
    assert.equal(created.code, 0, created.stderr);
    const name = (JSON.parse(created.stdout) as { name: string }).name;
    // The restore target's path holds the secret: its audit entry records that path.
    const restored = await rig.run(['backup', 'restore', name, '--into', `restored-${secret}`], { env });
    assert.equal(restored.code, 0, restored.stderr);
    const log = readFileSync(rig.path('.reprovm/audit.log'), 'utf8');
    assert.match(log, /"backup\.restored"/);
    assert.match(log, /restored-\*\*\*/);
    assert.ok(!log.includes(secret), 'the secret is not in the audit log');
  });
});

describe('read-only commands and the configuration', () => {
  it('graph accepts --config: a bad file is an error, a good one is read', async () => {
    const rig = newRig();
    rig.write({ 'm.txt': 'task a {\n  cmd = true\n}\n', 'good.conf': '[execution]\nparallel_jobs = 2\n', 'bad.conf': '[execution]\nparallel_jobs = lots\n' });
    const good = await rig.run(['graph', '--config', 'good.conf', 'm.txt']);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /a/);
    const bad = await rig.run(['graph', '--config', 'bad.conf', 'm.txt']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /bad\.conf:2/);
  });

  it('verify-repro checks [execution] parallel_jobs tasks at once unless -j says otherwise', async () => {
    const rig = newRig();
    // Each task holds a directory while it runs: a second one finding it taken records an overlap.
    const task = (n: string): string =>
      `task ${n} {\n  cmd = if mkdir ${rig.path('busy')} 2>/dev/null; then sleep 0.4; rmdir ${rig.path('busy')}; else touch ${rig.path('overlap')}; sleep 0.4; fi; echo ${n} > ${n}.txt\n  outputs = ${n}.txt\n}\n`;
    rig.write({ 'm.txt': ['a', 'b', 'c'].map(task).join(''), 'reprovm.conf': '[execution]\nparallel_jobs = 1\n' });
    assert.equal((await rig.run(['m.txt', '-q'])).code, 0);
    assert.ok(!existsSync(rig.path('overlap')), 'the run itself used parallel_jobs = 1');
    const serial = await rig.run(['verify-repro', 'm.txt']);
    assert.equal(serial.code, 0, serial.stdout + serial.stderr);
    assert.ok(!existsSync(rig.path('overlap')), 'verify-repro checked one task at a time');
    const parallel = await rig.run(['verify-repro', '-j', '3', 'm.txt']);
    assert.equal(parallel.code, 0, parallel.stdout + parallel.stderr);
    assert.ok(existsSync(rig.path('overlap')), '-j 3 wins over the configuration');
  });
});
