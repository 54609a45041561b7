import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CONFIG_SCHEMA, NAMED_SECTION_SCHEMA, type KeySpec } from '../../src/config/schema.js';
import { events, Rig, type RunOpts } from '../helpers/rig.js';

const MANIFEST = `task a {
  cmd = echo a > a.txt
  outputs = a.txt
}
task b {
  cmd = echo b > b.txt
  outputs = b.txt
}
`;

/** Codec id (byte 5 of the object header: 0 none, 1 zstd, 2 lz4) of every object under a cache dir. */
function objectCodecs(cacheDir: string): number[] {
  const objects = path.join(cacheDir, 'cas', 'objects');
  const codecs: number[] = [];
  for (const sub of readdirSync(objects)) {
    for (const name of readdirSync(path.join(objects, sub))) {
      const fd = openSync(path.join(objects, sub, name), 'r');
      const header = Buffer.alloc(16);
      readSync(fd, header, 0, 16, 0);
      closeSync(fd);
      assert.equal(header.subarray(0, 4).toString('latin1'), 'RVMO');
      codecs.push(header[5] ?? -1);
    }
  }
  return codecs;
}

describe('configuration (CLI)', () => {
  let rig: Rig;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    rig = new Rig('reprovm-config-');
    env = { REPROVM_SYSTEM_CONFIG: rig.path('etc/reprovm.conf') };
  });
  afterEach(() => rig.cleanup());
  const run = (args: string[], opts: RunOpts = {}) => rig.run(args, { ...opts, env: { ...env, ...opts.env } });
  const runStarted = (stdout: string) => events(stdout).find((e) => e.type === 'run-started');

  it('a run takes -j, compression and the inline limit from the workspace config file', async () => {
    // inline_max_bytes = 0: these tiny outputs become objects (by default they stay inside their records).
    rig.write({ 'manifest.txt': MANIFEST, 'reprovm.conf': '[execution]\nparallel_jobs = 3\n[cache]\ncompression = lz4\ninline_max_bytes = 0\n' });
    const r = await run(['--json', 'manifest.txt']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(runStarted(r.stdout)?.jobs, 3);
    const codecs = objectCodecs(rig.path('.reprovm'));
    assert.ok(codecs.length >= 2);
    assert.deepEqual([...new Set(codecs)], [2]);
    assert.equal(r.stderr, '');
  });

  it('flags beat the environment, which beats the file', async () => {
    rig.write({ 'manifest.txt': MANIFEST, 'reprovm.conf': '[execution]\nparallel_jobs = 3\n' });
    assert.equal(runStarted((await run(['--json', '-f', 'manifest.txt'], { env: { REPROVM_JOBS: '5' } })).stdout)?.jobs, 5);
    assert.equal(runStarted((await run(['--json', '-f', '-j', '2', 'manifest.txt'], { env: { REPROVM_JOBS: '5' } })).stdout)?.jobs, 2);
    rig.write({ 'reprovm.conf': '[cache]\ncompression = lz4\ninline_max_bytes = 0\n' });
    const none = await run(['--json', '-f', '--cache-dir', 'c2', '--compress', 'none', 'manifest.txt']);
    assert.equal(none.code, 0, none.stderr);
    assert.deepEqual([...new Set(objectCodecs(rig.path('c2')))], [0]);
  });

  it('--config FILE works before and after the command, and a relative cache_dir is relative to the file', async () => {
    rig.write({ 'ws/manifest.txt': MANIFEST, 'conf/my.conf': '[execution]\nparallel_jobs = 4\n[cache]\ncache_dir = ../shared-cache\ncompression = none\ninline_max_bytes = 0\n' });
    const a = await run(['--config', 'conf/my.conf', '--json', 'ws/manifest.txt']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(runStarted(a.stdout)?.jobs, 4);
    assert.deepEqual([...new Set(objectCodecs(rig.path('shared-cache')))], [0]);
    assert.equal(statSync(rig.path('ws/.reprovm/cas'), { throwIfNoEntry: false }), undefined);
    const b = await run(['--config', 'conf/my.conf', 'run', '--json', '-f', 'ws/manifest.txt']);
    assert.equal(runStarted(b.stdout)?.jobs, 4);
    const c = await run(['run', '--config', 'conf/my.conf', '--json', '-f', 'ws/manifest.txt']);
    assert.equal(runStarted(c.stdout)?.jobs, 4);
    // explain reads the configured cache too: a deleted output would be restored, not re-run.
    rmSync(rig.path('ws/a.txt'));
    for (const args of [['--config', 'conf/my.conf', 'explain'], ['explain', '--config', 'conf/my.conf']]) {
      const e = await run([...args, '--json', 'ws/manifest.txt', 'a']);
      assert.equal(e.code, 0, e.stderr);
      assert.equal((JSON.parse(e.stdout.trim()) as { action: string }).action, 'restore');
    }
    const without = await run(['explain', '--json', 'ws/manifest.txt', 'a']);
    assert.equal((JSON.parse(without.stdout.trim()) as { action: string }).action, 'run');
  });

  it('a bad value stops the run with exit 2 and one line naming file:line and the allowed values', async () => {
    rig.write({ 'manifest.txt': MANIFEST, 'reprovm.conf': '[execution]\n\nfsync = sometimes\n' });
    const r = await run(['manifest.txt']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `reprovm: error: ${rig.path('reprovm.conf')}:3: invalid value "sometimes" for fsync in [execution]: expected one of: always, batch, off\n`);
    assert.equal(rig.exists('a.txt'), false);
    const e = await run(['manifest.txt'], { env: { REPROVM_JOBS: 'lots' } });
    assert.equal(e.code, 2);
    assert.match(e.stderr, /environment variable REPROVM_JOBS/);
    const missing = await run(['--config', 'nope.conf', 'manifest.txt']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^reprovm: error: --config: configuration file .*nope\.conf does not exist/);
  });

  it('unknown keys are one warning each, printed once, and the run goes on', async () => {
    rig.write({ 'manifest.txt': MANIFEST, 'reprovm.conf': '[execution]\njbos = 4\n' });
    const r = await run(['-q', 'manifest.txt']);
    assert.equal(r.code, 0);
    assert.equal(
      r.stderr,
      `reprovm: warning: ${rig.path('reprovm.conf')}:2: unknown key "jbos" in [execution] (did you mean "parallel_jobs"?)\n`,
    );
  });

  it('[execution] retry_attempts is the default for tasks without retries', async () => {
    const flaky = `task flaky {
  cmd = if [ -e once ]; then echo ok > out.txt; else touch once; exit 1; fi
  outputs = out.txt
}
`;
    rig.write({ 'manifest.txt': flaky, 'reprovm.conf': '[execution]\nretry_attempts = 2\n' });
    const r = await run(['--json', 'manifest.txt']);
    assert.equal(r.code, 0, r.stdout);
    assert.equal(events(r.stdout).filter((e) => e.type === 'task-retry').length, 1);
    rig.write({ 'manifest.txt': flaky.replace('outputs', 'retries = 0\n  outputs'), 'out.txt': '' });
    rmSync(rig.path('once'));
    const s = await run(['--json', '-f', 'manifest.txt']);
    assert.equal(s.code, 1, 'a task\'s own retries = 0 wins');
    assert.equal(events(s.stdout).filter((e) => e.type === 'task-retry').length, 0);
  });

  it('[execution] strict and keep_going apply to runs; --strict=off and --no-keep-going override them', async () => {
    const leaky = 'task leak {\n  cmd = echo x > out.txt; echo y > stray.txt\n  outputs = out.txt\n}\ntask fails {\n  cmd = exit 1\n}\ntask after {\n  cmd = echo z > z.txt\n  outputs = z.txt\n  deps = leak\n}\n';
    rig.write({ 'manifest.txt': leaky, 'reprovm.conf': '[execution]\nstrict = error\nkeep_going = yes\nparallel_jobs = 1\n' });
    const strict = await run(['--json', 'manifest.txt', 'leak']);
    assert.equal(strict.code, 1);
    const failed = events(strict.stdout).find((e) => e.type === 'task-finished' && e.task === 'leak');
    assert.equal((failed?.failure as { reason?: string } | undefined)?.reason, 'hermeticity');
    const off = await run(['--json', '--strict=off', 'manifest.txt', 'leak']);
    assert.equal(off.code, 0, off.stdout);
    rig.write({ 'reprovm.conf': '[execution]\nkeep_going = yes\nparallel_jobs = 1\n' });
    const statusOf = (stdout: string, task: string): unknown => events(stdout).find((e) => e.type === 'task-finished' && e.task === task)?.status;
    // -j 1 and critical-path order: "fails" has no dependents, so it runs after "leak" or before "after" only by chance; with keep_going "after" always runs.
    const kept = await run(['--json', '-f', 'manifest.txt']);
    assert.equal(kept.code, 1);
    assert.equal(statusOf(kept.stdout, 'after'), 'executed');
    assert.equal(statusOf(kept.stdout, 'fails'), 'failed');
  });

  it('--log-file writes JSON lines; --log-level filters the console', async () => {
    rig.write({ 'manifest.txt': MANIFEST, 'reprovm.conf': '[execution]\njbos = 1\n' });
    const r = await run(['-q', '--log-level', 'debug', '--log-file', 'logs/r.log', 'manifest.txt']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /reprovm: debug: configuration loaded/);
    const lines = readFileSync(rig.path('logs/r.log'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.map((l) => l.level), ['warning', 'debug']);
    assert.match(String(lines[0]?.msg), /unknown key "jbos"/);
    assert.equal(lines[1]?.msg, 'configuration loaded');
    assert.deepEqual(Object.keys(lines[1] ?? {}), ['time', 'level', 'msg', 'fields']);
    const quiet = await run(['-q', '-f', '--log-level', 'error', 'manifest.txt']);
    assert.equal(quiet.stderr, '');
  });
});

describe('reprovm config show / check', () => {
  let rig: Rig;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    rig = new Rig('reprovm-config-show-');
    env = { REPROVM_SYSTEM_CONFIG: rig.path('etc/reprovm.conf') };
  });
  afterEach(() => rig.cleanup());
  const run = (args: string[], opts: RunOpts = {}) => rig.run(args, { ...opts, env: { ...env, ...opts.env } });

  it('prints every value with its source', async () => {
    rig.write({ 'reprovm.conf': '[execution]\nparallel_jobs = 3\n\n[cache]\ncompression = lz4\n[schedule.nightly]\ncron = 0 3 * * *\n' });
    const r = await run(['--log-level', 'error', 'config', 'show'], { env: { REPROVM_EXECUTION_FSYNC: 'off' } });
    assert.equal(r.code, 0, r.stderr);
    const file = rig.path('reprovm.conf');
    const line = (key: string): string => r.stdout.split('\n').find((l) => l.startsWith(`${key} =`)) ?? '';
    assert.match(r.stdout, new RegExp(`^# configuration file: ${file}\n`));
    assert.match(line('parallel_jobs'), new RegExp(`^parallel_jobs = 3 +; ${file}:2$`));
    assert.match(line('compression'), new RegExp(`; ${file}:5$`));
    assert.match(line('fsync'), /^fsync = off +; env REPROVM_EXECUTION_FSYNC$/);
    assert.match(line('rate'), /^rate = inf +; default$/);
    assert.match(line('level'), /^level = error +; flag --log-level$/);
    assert.match(r.stdout, /\n\[schedule\.nightly\]\ncron = 0 3 \* \* \* +; .*reprovm\.conf:7\n/);
  });

  it('--json gives values and structured sources; a manifest argument picks the workspace', async () => {
    rig.write({ 'sub/reprovm.conf': '[execution]\nparallel_jobs = 7\n', 'sub/manifest.txt': MANIFEST });
    const r = await run(['config', 'show', '--json', 'sub/manifest.txt']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { file: string; values: { section: string; key: string; value: unknown; source: Record<string, unknown> }[] };
    assert.equal(doc.file, rig.path('sub/reprovm.conf'));
    const jobs = doc.values.find((v) => v.section === 'execution' && v.key === 'parallel_jobs');
    assert.deepEqual(jobs?.source, { kind: 'file', file: rig.path('sub/reprovm.conf'), line: 2 });
    assert.equal(jobs?.value, 7);
    assert.equal(doc.values.find((v) => v.key === 'rate')?.value, 'inf');
    const here = JSON.parse((await run(['config', 'show', '--json'])).stdout) as { file: unknown };
    assert.equal(here.file, null);
  });

  it('redacts every secret key: the canary never appears', async () => {
    const secrets: string[] = [];
    const lines: string[] = [];
    for (const [section, keys] of Object.entries(CONFIG_SCHEMA)) {
      lines.push(`[${section}]`);
      for (const [key, spec] of Object.entries<KeySpec>(keys)) {
        if (!spec.secret) continue;
        lines.push(`${key} = https://user:pw@example.com/CANARY-${section}-${key}?sig=x`);
        secrets.push(`${section}.${key}`);
      }
    }
    for (const [kind, keys] of Object.entries(NAMED_SECTION_SCHEMA)) {
      lines.push(`[${kind}.one]`);
      for (const [key, spec] of Object.entries<KeySpec>(keys)) if (spec.secret) lines.push(`${key} = CANARY-${kind}-${key}`);
    }
    rig.write({ 'reprovm.conf': `${lines.join('\n')}\n` });
    for (const args of [['config', 'show'], ['config', 'show', '--json']]) {
      const r = await run(args, { env: { REPROVM_NOTIFICATIONS_WEBHOOK_SECRET: 'CANARY-env' } });
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, /CANARY|user:pw/);
    }
    const text = (await run(['config', 'show'])).stdout;
    assert.ok(secrets.length >= 8);
    for (const s of secrets) assert.match(text, new RegExp(`\n${s.split('.')[1]} = \\*\\*\\* +; `));
    assert.match(text, /\nsha256 = \*\*\* +; /);
  });

  it('config check: exit 0 when valid (warnings printed), 2 listing every error', async () => {
    rig.write({ 'reprovm.conf': '[execution]\njbos = 1\n' });
    const ok = await run(['config', 'check']);
    assert.equal(ok.code, 0);
    assert.match(ok.stdout, /^reprovm: configuration ok: .*reprovm\.conf \(1 warning\)\n$/);
    assert.match(ok.stderr, /unknown key "jbos"/);
    rig.write({ 'reprovm.conf': '[execution]\nparallel_jobs = -1\n[server]\nport = 70000\n' });
    const bad = await run(['config', 'check']);
    assert.equal(bad.code, 2);
    assert.deepEqual(bad.stderr.trimEnd().split('\n'), [
      `reprovm: error: ${rig.path('reprovm.conf')}:2: invalid value "-1" for parallel_jobs in [execution]: expected a whole number from 0 to 1024`,
      `reprovm: error: ${rig.path('reprovm.conf')}:4: invalid value "70000" for port in [server]: expected a whole number from 0 to 65535`,
    ]);
  });
});
