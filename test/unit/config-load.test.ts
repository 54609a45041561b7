import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, defaultConfig, loadConfig, type LoadedConfig } from '../../src/config/load.js';
import { resolveOpsCacheDir } from '../../src/cli/cache-location.js';
import { resolveRunSettings } from '../../src/cli/run-settings.js';

const root = mkdtempSync(path.join(tmpdir(), 'reprovm-config-'));
after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

/** A fresh workspace with the given files; the system config points inside it (absent unless written). */
function workspace(files: Record<string, string> = {}): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = path.join(root, `ws${counter++}`);
  mkdirSync(dir, { recursive: true });
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return { dir, env: { REPROVM_SYSTEM_CONFIG: path.join(dir, 'etc', 'reprovm.conf') } };
}

function load(files: Record<string, string>, env: NodeJS.ProcessEnv = {}): LoadedConfig {
  const ws = workspace(files);
  return loadConfig({ env: { ...ws.env, ...env }, workspace: ws.dir });
}

function loadError(files: Record<string, string>, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    load(files, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('config defaults', () => {
  it('defaultConfig holds every schema default', () => {
    const c = defaultConfig();
    assert.equal(c.execution.parallel_jobs, 0);
    assert.equal(c.execution.rate, Infinity);
    assert.equal(c.cache.compression, 'zstd');
    assert.equal(c.remote.mode, 'rw');
    assert.deepEqual(c.server.workspaces, []);
    assert.deepEqual(c.schedule, []);
    assert.deepEqual(c.token, []);
  });

  it('without any file everything is a default', () => {
    const l = load({});
    assert.equal(l.file, undefined);
    assert.equal(l.digest, undefined);
    assert.deepEqual(l.config, defaultConfig());
    assert.deepEqual(l.sourceOf('execution', 'parallel_jobs'), { kind: 'default' });
  });
});

describe('config values from the file', () => {
  it('parses every type and records file:line', () => {
    const l = load({
      'reprovm.conf': [
        '; a comment',
        '[execution]',
        'parallel_jobs = 6',
        'timeout_seconds = 15m',
        'kill_grace_seconds = 2h',
        'rate = 2.5',
        'keep_going = yes',
        '',
        '[cache]',
        'compression = lz4',
        '[backup]',
        'min_interval = 1d',
        'auto_backup = on',
        '[server]',
        'workspaces = a:x/m.txt, b:y/m.txt  c:z/m.txt',
      ].join('\n'),
    });
    assert.equal(l.config.execution.parallel_jobs, 6);
    assert.equal(l.config.execution.timeout_seconds, 900);
    assert.equal(l.config.execution.kill_grace_seconds, 7200);
    assert.equal(l.config.execution.rate, 2.5);
    assert.equal(l.config.execution.keep_going, true);
    assert.equal(l.config.cache.compression, 'lz4');
    assert.equal(l.config.backup.min_interval, 86_400);
    assert.equal(l.config.backup.auto_backup, true);
    assert.deepEqual(l.config.server.workspaces, ['a:x/m.txt', 'b:y/m.txt', 'c:z/m.txt']);
    const file = l.file ?? '';
    assert.match(file, /reprovm\.conf$/);
    assert.deepEqual(l.sourceOf('execution', 'parallel_jobs'), { kind: 'file', file, line: 3 });
    assert.deepEqual(l.sourceOf('cache', 'compression'), { kind: 'file', file, line: 10 });
    assert.deepEqual(l.sourceOf('server', 'workspaces'), { kind: 'file', file, line: 15 });
    assert.match(l.digest ?? '', /^[0-9a-f]{64}$/);
    assert.deepEqual(l.warnings, []);
  });

  it('accepts every spelling of durations, booleans and inf', () => {
    for (const [text, seconds] of [['90', 90], ['90s', 90], ['15m', 900], ['2h', 7200], ['1d', 86_400], ['1m30s', 90]] as const) {
      assert.equal(load({ 'reprovm.conf': `[execution]\ntimeout_seconds = ${text}\n` }).config.execution.timeout_seconds, seconds, text);
    }
    for (const [text, value] of [['1', true], ['0', false], ['true', true], ['false', false], ['YES', true], ['no', false], ['on', true], ['off', false]] as const) {
      assert.equal(load({ 'reprovm.conf': `[remote]\npath_style = ${text}\n` }).config.remote.path_style, value, text);
    }
    assert.equal(load({ 'reprovm.conf': '[execution]\nrate = 10\nrate = inf\n' }).config.execution.rate, Infinity);
  });

  it('reads named sections with defaults for missing keys', () => {
    const l = load({
      'reprovm.conf': '[schedule.nightly]\ncron = 0 3 * * *\ntargets = build test\n\n[token.ci]\nrole = run\nsha256 = abc\n',
    });
    assert.deepEqual(l.config.schedule, [
      { name: 'nightly', cron: '0 3 * * *', timezone: 'UTC', workspace: '', targets: ['build', 'test'], force: false, catch_up: false },
    ]);
    assert.deepEqual(l.config.token, [{ name: 'ci', role: 'run', sha256: 'abc' }]);
    assert.deepEqual(l.sourceOf('schedule.nightly', 'cron'), { kind: 'file', file: l.file, line: 2 });
    assert.deepEqual(l.sourceOf('token.ci', 'role'), { kind: 'file', file: l.file, line: 6 });
  });

  it('makes relative paths in the file relative to its directory', () => {
    const l = load({ '.reprovm/reprovm.conf': '[cache]\ncache_dir = ../shared-cache\n[logging]\nfile = logs/r.log\n[backup]\nlocation = s3://b/p\n' });
    const dir = path.dirname(l.file ?? '');
    assert.equal(l.config.cache.cache_dir, path.resolve(dir, '../shared-cache'));
    assert.equal(l.config.logging.file, path.join(dir, 'logs/r.log'));
    assert.equal(l.config.backup.location, 's3://b/p');
  });
});

describe('config errors name file:line and what is allowed', () => {
  const cases: [string, string, RegExp][] = [
    ['int out of range', '[execution]\nparallel_jobs = 5000\n', /reprovm\.conf:2: invalid value "5000" for parallel_jobs in \[execution\]: expected a whole number from 0 to 1024$/],
    ['not a number', '\n[execution]\nretry_attempts = three\n', /reprovm\.conf:3: invalid value "three" for retry_attempts in \[execution\]: expected a whole number from 0 to 100$/],
    ['negative', '[cache]\nmax_age_days = -1\n', /reprovm\.conf:2: invalid value "-1" for max_age_days in \[cache\]: expected a whole number of at least 0$/],
    ['bad enum', '[cache]\nlevel = 3\ncompression = gzip\n', /reprovm\.conf:3: invalid value "gzip" for compression in \[cache\]: expected one of: zstd, lz4, none$/],
    ['bad bool', '[audit]\nenabled = maybe\n', /reprovm\.conf:2: invalid value "maybe" for enabled in \[audit\]: expected one of: true, false, yes, no, on, off, 1, 0$/],
    ['bad duration', '[remote]\nrequest_timeout_seconds = 5 minutes\n', /reprovm\.conf:2: invalid value "5 minutes" for request_timeout_seconds in \[remote\]: expected a duration: seconds \(90\) or with a unit \(90s, 15m, 2h, 1d\)$/],
    ['bad rate', '[execution]\nrate = fast\n', /reprovm\.conf:2: invalid value "fast" for rate in \[execution\]: expected a number of at least 0, or inf$/],
    ['bad named value', '[token.ci]\nrole = root\n', /reprovm\.conf:2: invalid value "root" for role in \[token\.ci\]: expected one of: read, run, admin$/],
  ];
  for (const [name, text, pattern] of cases) {
    it(name, () => {
      const e = loadError({ 'reprovm.conf': text });
      assert.equal(e.problems.length, 1);
      assert.match(e.problems[0] ?? '', pattern);
    });
  }

  it('reports every bad value at once', () => {
    const e = loadError({ 'reprovm.conf': '[execution]\nparallel_jobs = x\nfsync = never\n' }, { REPROVM_CACHE_LEVEL: '99' });
    assert.equal(e.problems.length, 3);
    assert.match(e.message, /:2: .*parallel_jobs.* \(and 2 more: see reprovm config check\)$/);
    const all = e.problems.join('\n');
    assert.match(all, /:2: .*parallel_jobs/);
    assert.match(all, /:3: .*fsync.*always, batch, off/);
    assert.match(all, /environment variable REPROVM_CACHE_LEVEL: invalid value "99" for level in \[cache\]: expected a whole number from 0 to 19/);
  });

  it('never prints a secret value in an error', () => {
    const e = loadError({ 'reprovm.conf': '[remote]\nurl = s3://CANARY-SECRET/x\n[remote.url]\nx = 1\n' }).message;
    assert.doesNotMatch(e, /CANARY/);
  });
});

describe('config warnings', () => {
  it('warns about unknown keys with a suggestion', () => {
    const l = load({ 'reprovm.conf': '[execution]\njbos = 4\nfsnyc = off\nzzzzzzzz = 1\n' });
    const file = l.file ?? '';
    assert.deepEqual(l.warnings, [
      `${file}:2: unknown key "jbos" in [execution] (did you mean "parallel_jobs"?)`,
      `${file}:3: unknown key "fsnyc" in [execution] (did you mean "fsync"?)`,
      `${file}:4: unknown key "zzzzzzzz" in [execution]`,
    ]);
  });

  it('warns about unknown sections with a suggestion', () => {
    const l = load({ 'reprovm.conf': '[cache]\nlevel = 2\n\n[exectuion]\nparallel_jobs = 2\n[shedule.nightly]\ncron = x\n[totally_else]\n' });
    const file = l.file ?? '';
    assert.deepEqual(l.warnings, [
      `${file}:4: unknown section [exectuion] (did you mean [execution]?)`,
      `${file}:6: unknown section [shedule] (did you mean [schedule.NAME]?)`,
      `${file}:8: unknown section [totally_else]`,
    ]);
    assert.equal(l.config.execution.parallel_jobs, 0);
  });

  it('warns about keys outside sections and unnamed [schedule] keys', () => {
    const l = load({ 'reprovm.conf': 'jobs = 3\n[schedule]\ncron = x\n' });
    assert.equal(l.warnings.length, 2);
    assert.match(l.warnings[0] ?? '', /:1: key "jobs" is outside any section/);
    assert.match(l.warnings[1] ?? '', /:3: key "cron" in \[schedule\] is ignored: .*\[schedule\.NAME\]/);
  });
});

describe('config lookup order', () => {
  const conf = (jobs: number): string => `[execution]\nparallel_jobs = ${jobs}\n`;

  it('takes the first file that exists, in order', () => {
    const ws = workspace({
      'explicit.conf': conf(1),
      'envfile.conf': conf(2),
      'reprovm.conf': conf(3),
      '.reprovm/reprovm.conf': conf(4),
      'etc/reprovm.conf': conf(5),
    });
    const jobs = (o: { explicitFile?: string; env?: NodeJS.ProcessEnv }): number =>
      loadConfig({ ...(o.explicitFile ? { explicitFile: o.explicitFile } : {}), env: { ...ws.env, ...o.env }, workspace: ws.dir }).config.execution.parallel_jobs;
    const envFile = { REPROVM_CONFIG: path.join(ws.dir, 'envfile.conf') };
    assert.equal(jobs({ explicitFile: path.join(ws.dir, 'explicit.conf'), env: envFile }), 1);
    assert.equal(jobs({ env: envFile }), 2);
    assert.equal(jobs({}), 3);
    rmSync(path.join(ws.dir, 'reprovm.conf'));
    assert.equal(jobs({}), 4);
    rmSync(path.join(ws.dir, '.reprovm/reprovm.conf'));
    assert.equal(jobs({}), 5);
    rmSync(path.join(ws.dir, 'etc/reprovm.conf'));
    assert.equal(jobs({}), 0);
  });

  it('is an error when --config or REPROVM_CONFIG names a missing file', () => {
    const ws = workspace({ 'reprovm.conf': conf(3) });
    assert.throws(
      () => loadConfig({ explicitFile: path.join(ws.dir, 'nope.conf'), env: ws.env, workspace: ws.dir }),
      (e: unknown) => e instanceof ConfigError && /^--config: configuration file .*nope\.conf does not exist/.test(e.message),
    );
    assert.throws(
      () => loadConfig({ env: { ...ws.env, REPROVM_CONFIG: path.join(ws.dir, 'gone.conf') }, workspace: ws.dir }),
      (e: unknown) => e instanceof ConfigError && /^REPROVM_CONFIG: configuration file .*gone\.conf does not exist/.test(e.message),
    );
  });
});

describe('config precedence: flags > env > file > defaults', () => {
  const file = '[execution]\nparallel_jobs = 3\nkill_grace_seconds = 7\nfsync = always\n[cache]\ncompression = lz4\nlevel = 9\n';
  const ctx = { cpus: 16, cwd: '/cwd', workspace: '/ws' };

  it('default < file < env (short and long names) < flag', () => {
    assert.equal(resolveRunSettings({}, load({}).config, ctx).jobs, 16);
    assert.equal(resolveRunSettings({}, load({ 'reprovm.conf': file }).config, ctx).jobs, 3);
    const short = load({ 'reprovm.conf': file }, { REPROVM_JOBS: '5' });
    assert.equal(resolveRunSettings({}, short.config, ctx).jobs, 5);
    assert.deepEqual(short.sourceOf('execution', 'parallel_jobs'), { kind: 'env', name: 'REPROVM_JOBS' });
    const long = load({ 'reprovm.conf': file }, { REPROVM_JOBS: '5', REPROVM_EXECUTION_PARALLEL_JOBS: '6' });
    assert.equal(resolveRunSettings({}, long.config, ctx).jobs, 6);
    assert.deepEqual(long.sourceOf('execution', 'parallel_jobs'), { kind: 'env', name: 'REPROVM_EXECUTION_PARALLEL_JOBS' });
    assert.equal(resolveRunSettings({ jobs: 2 }, long.config, ctx).jobs, 2);
  });

  it('applies to several keys at once', () => {
    const l = load({ 'reprovm.conf': file }, { REPROVM_EXECUTION_FSYNC: 'off', REPROVM_LOG_LEVEL: 'debug', REPROVM_CACHE_DIR: 'rel/cache' });
    const s = resolveRunSettings({}, l.config, ctx);
    assert.equal(s.killGraceMs, 7000); // file
    assert.equal(s.fsync, 'off'); // env over file
    assert.deepEqual(s.compression, { codec: 'lz4', level: 0 }); // file; lz4 has no level
    assert.equal(s.cacheDir, path.resolve('/cwd', 'rel/cache')); // env: relative to cwd
    assert.equal(l.config.logging.level, 'debug');
    const f = resolveRunSettings({ fsync: 'batch', compress: 'zstd', killGrace: 100, cacheDir: 'flagdir' }, l.config, ctx);
    assert.equal(f.fsync, 'batch');
    assert.deepEqual(f.compression, { codec: 'zstd', level: 9 });
    assert.equal(f.killGraceMs, 100);
    assert.equal(f.cacheDir, path.resolve('/cwd', 'flagdir'));
  });

  it('resolves automatic values', () => {
    const s = resolveRunSettings({}, defaultConfig(), ctx);
    assert.deepEqual(
      { jobs: s.jobs, rate: s.rate, burst: s.burst, timeoutMs: s.timeoutMs, killGraceMs: s.killGraceMs, keepGoing: s.keepGoing, strict: s.strict, fsync: s.fsync, cacheDir: s.cacheDir, compression: s.compression, defaultRetries: s.defaultRetries },
      { jobs: 16, rate: Infinity, burst: 16, timeoutMs: undefined, killGraceMs: 5000, keepGoing: false, strict: undefined, fsync: 'batch', cacheDir: '/ws/.reprovm', compression: { codec: 'zstd', level: 3 }, defaultRetries: 0 },
    );
    const l = load({ 'reprovm.conf': '[execution]\nstrict = error\nkeep_going = true\nretry_attempts = 2\ntimeout_seconds = 1m\nburst = 4\nrate = 0\n' });
    const t = resolveRunSettings({}, l.config, ctx);
    assert.deepEqual([t.strict, t.keepGoing, t.defaultRetries, t.timeoutMs, t.burst, t.rate], ['error', true, 2, 60_000, 4, Infinity]);
    const u = resolveRunSettings({ strict: 'off', keepGoing: false }, l.config, ctx);
    assert.deepEqual([u.strict, u.keepGoing], [undefined, false]);
  });

  it('treats an empty variable as unset for numbers and as empty for text', () => {
    const l = load({ 'reprovm.conf': '[execution]\nparallel_jobs = 3\n[remote]\nurl = s3://b/p\n' }, { REPROVM_JOBS: '', REPROVM_REMOTE: '' });
    assert.equal(l.config.execution.parallel_jobs, 3);
    assert.equal(l.config.remote.url, '');
  });

  it('rejects bad environment values naming the variable', () => {
    for (const [name, value, expected] of [
      ['REPROVM_JOBS', 'many', /^environment variable REPROVM_JOBS: invalid value "many" for parallel_jobs in \[execution\]: expected a whole number from 0 to 1024$/],
      ['REPROVM_REMOTE_MODE', 'readonly', /^environment variable REPROVM_REMOTE_MODE: .*expected one of: rw, ro, off$/],
      ['REPROVM_AUDIT_ENABLED', 'perhaps', /^environment variable REPROVM_AUDIT_ENABLED: .*expected one of: true, false/],
      ['REPROVM_EXECUTION_TIMEOUT_SECONDS', '10 years', /^environment variable REPROVM_EXECUTION_TIMEOUT_SECONDS: .*expected a duration/],
    ] as const) {
      const e = loadError({}, { [name]: value });
      assert.match(e.message, expected);
    }
  });
});

describe('ops cache location', () => {
  it('flag, else configured cache_dir, else ./.reprovm', () => {
    const l = load({ 'reprovm.conf': '[cache]\ncache_dir = /abs/cache\n' });
    assert.equal(resolveOpsCacheDir('x', l, '/cwd'), '/cwd/x');
    assert.equal(resolveOpsCacheDir(undefined, l, '/cwd'), '/abs/cache');
    assert.equal(resolveOpsCacheDir(undefined, load({}), '/cwd'), '/cwd/.reprovm');
    assert.equal(resolveOpsCacheDir(undefined, load({}, { REPROVM_CACHE_DIR: 'c' }), '/cwd'), '/cwd/c');
  });
});
