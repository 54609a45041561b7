import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { rewriteLegacyOpsFlags } from '../../src/cli/legacy-ops-flags.js';
import { defaultConfig } from '../../src/config/load.js';
import { backupTime } from '../../src/ops/backup/auto.js';
import { backupName, isBackupName, parseManifest } from '../../src/ops/backup/manifest.js';
import { formatBytes, parseAge, parseSize } from '../../src/ops/gc-units.js';
import { checkHealth, diskStatus, healthExitCode, worst } from '../../src/ops/health.js';
import { MemoryBlobStore } from '../../src/remote/memory-store.js';

describe('gc units', () => {
  it('parses sizes with binary units', () => {
    assert.deepEqual(parseSize('10G'), { ok: true, value: 10 * 1024 ** 3 });
    assert.deepEqual(parseSize('512M'), { ok: true, value: 512 * 1024 ** 2 });
    assert.deepEqual(parseSize('1.5GiB'), { ok: true, value: 1.5 * 1024 ** 3 });
    assert.deepEqual(parseSize('700k'), { ok: true, value: 700 * 1024 });
    assert.deepEqual(parseSize('4096'), { ok: true, value: 4096 });
    assert.equal(parseSize('10X').ok, false);
    assert.equal(parseSize('-1G').ok, false);
    assert.equal(parseSize('').ok, false);
  });

  it('parses ages', () => {
    assert.deepEqual(parseAge('30d'), { ok: true, value: 30 * 86_400_000 });
    assert.deepEqual(parseAge('12h'), { ok: true, value: 12 * 3_600_000 });
    assert.deepEqual(parseAge('90m'), { ok: true, value: 90 * 60_000 });
    assert.deepEqual(parseAge('2w'), { ok: true, value: 14 * 86_400_000 });
    assert.deepEqual(parseAge('0s'), { ok: true, value: 0 });
    assert.equal(parseAge('30').ok, false);
    assert.equal(parseAge('d').ok, false);
  });

  it('formats bytes', () => {
    assert.equal(formatBytes(12), '12 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(300 * 1024 ** 2), '300 MiB');
  });
});

describe('health classification', () => {
  const GiB = 1024 ** 3;
  it('classifies free disk space by bytes and fraction', () => {
    assert.equal(diskStatus(50 * GiB, 100 * GiB).status, 'ok');
    assert.equal(diskStatus(5 * GiB, 100 * GiB).status, 'warning'); // 5% < 10%
    assert.equal(diskStatus(0.5 * GiB, 2 * GiB).status, 'warning'); // < 1 GiB
    assert.equal(diskStatus(1 * GiB, 100 * GiB).status, 'critical'); // 1% < 2%
    assert.equal(diskStatus(50 * 1024 ** 2, 200 * 1024 ** 2).status, 'critical'); // < 100 MiB
  });

  it('takes the worst status and maps it to the exit code', () => {
    assert.equal(worst(['ok', 'warning', 'ok']), 'warning');
    assert.equal(worst(['ok', 'critical', 'warning']), 'critical');
    assert.equal(worst([]), 'ok');
    assert.deepEqual(['ok', 'warning', 'critical'].map((s) => healthExitCode(s as 'ok')), [0, 1, 2]);
  });

  it('checks the remote: reachable is ok, unreachable a warning, refused credentials critical', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-health-unit-'));
    try {
      const config = defaultConfig();
      const remote = new MemoryBlobStore();
      const ok = await checkHealth({ cacheDir: path.join(dir, 'cache'), config, remote });
      assert.equal(ok.checks.find((c) => c.name === 'remote')?.status, 'ok');
      assert.equal(ok.status, 'ok');
      remote.inject('has', { type: 'error', kind: 'transient', status: 503 });
      const down = await checkHealth({ cacheDir: path.join(dir, 'cache'), config, remote });
      assert.equal(down.checks.find((c) => c.name === 'remote')?.status, 'warning');
      assert.equal(down.status, 'warning');
      remote.clearFaults();
      remote.inject('has', { type: 'error', kind: 'auth', status: 403 });
      const denied = await checkHealth({ cacheDir: path.join(dir, 'cache'), config, remote });
      assert.equal(denied.checks.find((c) => c.name === 'remote')?.status, 'critical');
      assert.equal(denied.status, 'critical');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('legacy maintenance flags', () => {
  it('rewrites them into subcommands, passing --cache-dir, --config and --json through', () => {
    const base = ['node', 'reprovm'];
    assert.deepEqual(rewriteLegacyOpsFlags([...base, '--health-check', '--json'], '/w'), [...base, 'health', '--json']);
    assert.deepEqual(rewriteLegacyOpsFlags([...base, '--stats', '--cache-dir', '/c', '-j', '4'], '/w'), [...base, 'cache', 'stats', '--cache-dir', '/c']);
    assert.deepEqual(rewriteLegacyOpsFlags([...base, '--clean-cache', '--config=/x.conf'], '/w'), [...base, 'cache', 'clean', '--config', '/x.conf']);
    assert.deepEqual(rewriteLegacyOpsFlags([...base, 'm.txt', '--', '--stats'], '/w'), [...base, 'm.txt', '--', '--stats']);
    assert.deepEqual(rewriteLegacyOpsFlags([...base, 'run', 'm.txt'], '/w'), [...base, 'run', 'm.txt']);
  });

  it('uses the manifest\'s workspace cache when a manifest is given', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-legacy-'));
    try {
      writeFileSync(path.join(dir, 'm.txt'), '');
      assert.deepEqual(rewriteLegacyOpsFlags(['node', 'reprovm', '--verify-cache', 'm.txt'], dir), [
        'node', 'reprovm', 'cache', 'verify', '--cache-dir', path.join(dir, '.reprovm'),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('backup names and manifests', () => {
  it('names sort by time and carry their kind', () => {
    const t = new Date('2026-11-22T02:15:00.123Z');
    assert.equal(backupName(t, 'full'), '20261122T021500123Z-full');
    assert.equal(backupName(t, 'incremental'), '20261122T021500123Z-incremental');
    assert.ok(isBackupName('20261122T021500123Z-full'));
    assert.ok(!isBackupName('../../etc/passwd'));
    assert.equal(backupTime('20261122T021500123Z-full'), t.getTime());
  });

  it('rejects manifests with unsafe paths or a wrong shape', () => {
    const good = {
      format: 'reprovm-backup', version: 1, name: '20261122T021500123Z-full', created: '2026-11-22T02:15:00.123Z',
      kind: 'full', parent: null, objects: ['a'.repeat(64)], files: [{ path: 'cache/x.json', size: 3, sha256: 'b'.repeat(64) }],
    };
    assert.equal(typeof parseManifest(JSON.stringify(good)), 'object');
    assert.match(parseManifest(JSON.stringify({ ...good, files: [{ path: '../x', size: 1, sha256: 'b'.repeat(64) }] })) as string, /unsafe path/);
    assert.match(parseManifest(JSON.stringify({ ...good, version: 2 })) as string, /unsupported backup format version 2/);
    assert.match(parseManifest(JSON.stringify({ ...good, kind: 'incremental' })) as string, /invalid parent/);
    assert.match(parseManifest('{') as string, /not valid JSON/);
  });
});
