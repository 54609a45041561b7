import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI } from '../helpers/rig.js';

const UNITS_DIR = fileURLToPath(new URL('../../systemd/', import.meta.url));
const BIN = '/usr/local/bin/reprovm';
const units = readdirSync(UNITS_DIR).filter((f) => /\.(service|timer)$/.test(f)).sort();
const read = (unit: string): string => readFileSync(path.join(UNITS_DIR, unit), 'utf8');

/** `Key=value` lines of a unit (comments and section headers dropped). */
function keys(text: string): [string, string][] {
  return text
    .split('\n')
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
}
const values = (text: string, key: string): string[] => keys(text).filter(([k]) => k === key).map(([, v]) => v);

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('systemd units', () => {
  test('the expected units exist', () => {
    assert.deepEqual(units, ['reprovm-exporter.service', 'reprovm-run@.service', 'reprovm-run@.timer', 'reprovm.service', 'reprovm@.service']);
  });

  test('systemd-analyze verify passes every unit (and an instance of every template) without a word on stderr', () => {
    const which = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    assert.equal(which.error, undefined, 'systemd-analyze is missing: install the Debian package "systemd" (.ci/run does)');
    const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-units-'));
    dirs.push(dir);
    // verify checks that the ExecStart binary is executable; the installed path does not exist here.
    const files: string[] = [];
    for (const unit of units) {
      const text = read(unit).replaceAll(BIN, '/bin/true');
      writeFileSync(path.join(dir, unit), text);
      files.push(unit);
      if (unit.includes('@.')) {
        const instance = unit.replace('@.', '@demo.');
        copyFileSync(path.join(dir, unit), path.join(dir, instance));
        files.push(instance);
      }
    }
    for (const f of files) {
      const res = spawnSync('systemd-analyze', ['verify', '--man=no', `./${f}`], { cwd: dir, encoding: 'utf8' });
      assert.equal(res.stderr, '', `${f}: ${res.stderr}`);
      assert.equal(res.stdout, '', `${f}: ${res.stdout}`);
      assert.equal(res.status, 0, f);
    }
  });

  test('the verify step would catch a typo (the check is not vacuous)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-units-'));
    dirs.push(dir);
    writeFileSync(path.join(dir, 'bad.service'), read('reprovm.service').replaceAll(BIN, '/bin/true').replace('Restart=on-failure', 'Restartt=on-failure'));
    const res = spawnSync('systemd-analyze', ['verify', '--man=no', './bad.service'], { cwd: dir, encoding: 'utf8' });
    assert.match(res.stderr, /Unknown key 'Restartt'/);
  });

  test('every reprovm flag in an ExecStart exists in `reprovm <command> --help`', () => {
    const helps = new Map<string, string>();
    let checked = 0;
    for (const unit of units) {
      for (const line of values(read(unit), 'ExecStart')) {
        const words = line.split(/\s+/);
        assert.equal(words[0], BIN, `${unit}: ExecStart runs ${BIN}`);
        const command = words[1] ?? '';
        assert.match(command, /^[a-z-]+$/, `${unit}: a subcommand comes first`);
        if (!helps.has(command)) {
          const out = execFileSync(process.execPath, [CLI, command, '--help'], { encoding: 'utf8' });
          assert.match(out, new RegExp(`^Usage: reprovm ${command} `, 'm'), `${unit}: "${command}" is a reprovm command`);
          helps.set(command, out);
        }
        for (const flag of words.slice(2).filter((w) => w.startsWith('-'))) {
          const name = flag.split('=')[0]!;
          assert.match(helps.get(command)!, new RegExp(`(^|[\\s,])${name.replace(/[-]/g, '\\-')}[\\s,=<]`, 'm'), `${unit}: reprovm ${command} has no option ${name}`);
          checked++;
        }
      }
    }
    assert.ok(checked >= 2, 'flags were found and checked');
  });

  test('services run as the reprovm user with hardening; daemons stop gracefully and restart on failure', () => {
    for (const unit of units.filter((u) => u.endsWith('.service'))) {
      const text = read(unit);
      const one = (key: string): string | undefined => values(text, key)[0];
      assert.equal(one('User'), 'reprovm', unit);
      assert.equal(one('NoNewPrivileges'), 'yes', unit);
      assert.equal(one('ProtectSystem'), 'strict', unit);
      assert.equal(one('ProtectHome'), 'yes', unit);
      assert.equal(one('PrivateTmp'), 'yes', unit);
      assert.equal(one('KillSignal'), 'SIGTERM', unit);
      assert.ok(one('TimeoutStopSec'), `${unit}: TimeoutStopSec`);
      const oneshot = one('Type') === 'oneshot';
      if (!oneshot) {
        assert.equal(one('Restart'), 'on-failure', unit);
        // Exit 2 is a configuration error: restarting it forever helps nobody.
        assert.equal(one('RestartPreventExitStatus'), '2', unit);
      }
      const builds = !unit.includes('exporter');
      if (builds) {
        // The server (or the run) must get the chance to stop its task processes itself.
        assert.equal(one('KillMode'), 'mixed', unit);
        assert.ok(values(text, 'ReadWritePaths').some((p) => p.replace(/^-/, '').startsWith('/srv/reprovm')), `${unit}: the workspaces are writable`);
        assert.ok(one('CacheDirectory'), `${unit}: a cache directory`);
        // An instance whose workspace directory does not exist yet must still start.
        for (const p of values(text, 'ReadWritePaths').filter((v) => v.includes('%i'))) assert.ok(p.startsWith('-'), `${unit}: ${p} needs a "-" prefix`);
      } else {
        assert.equal(values(text, 'ReadWritePaths').length, 0, 'the exporter only reads');
      }
      if (builds && !oneshot) assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID', unit);
    }
    assert.match(read('reprovm-run@.timer'), /^OnCalendar=/m);
  });

  test('the units and the README put the server\'s state where the code does: in cache_dir', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const section = readme.slice(readme.indexOf('\n## systemd'), readme.indexOf('\n## ', readme.indexOf('\n## systemd') + 1));
    // Run history: src/server/run-history.ts; schedule state: src/server/daemon.ts; both below the cache dir.
    for (const text of [section, read('reprovm.service'), read('reprovm@.service')]) {
      assert.doesNotMatch(text, /\/var\/lib\/reprovm[^\n]*\((run history|state)|keeps\s+its\s+state\s+in\s+\/var\/lib/);
    }
    assert.match(section, /`<cache_dir>\/runs\/`/);
    assert.match(section, /`<cache_dir>\/schedule-state\.json`/);
  });
});
