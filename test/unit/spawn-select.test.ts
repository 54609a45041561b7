import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { envList, loadNativeSpawn, signalName, type NativeLoad, type NativeSpawnAddon } from '../../src/exec/spawn-native.js';
import { chooseSpawner } from '../../src/exec/spawn-select.js';

const fakeAddon: NativeSpawnAddon = { available: () => true, spawn: () => [-1, -1] };
const loads = (): NativeLoad => ({ ok: true, addon: fakeAddon });
const fails = (): NativeLoad => ({ ok: false, reason: 'the native addon is not built (npm run build:native)' });

describe('chooseSpawner (REPROVM_SPAWNER)', () => {
  test('unset or auto: native when the addon loads, else child_process, silently', () => {
    assert.equal(chooseSpawner(undefined, loads).spawner.kind, 'native');
    assert.equal(chooseSpawner('auto', loads).spawner.kind, 'native');
    const fallback = chooseSpawner(undefined, fails);
    assert.equal(fallback.spawner.kind, 'node');
    assert.equal(fallback.warning, undefined);
  });

  test('node: child_process, without even loading the addon', () => {
    let loaded = false;
    const r = chooseSpawner('node', () => {
      loaded = true;
      return loads();
    });
    assert.equal(r.spawner.kind, 'node');
    assert.equal(loaded, false);
  });

  test('native when it cannot load: child_process, with one warning saying why', () => {
    const r = chooseSpawner('native', fails);
    assert.equal(r.spawner.kind, 'node');
    assert.equal(r.warning, 'REPROVM_SPAWNER=native: the native addon is not built (npm run build:native); using child_process');
  });

  test('an unknown value is a warning, then auto', () => {
    const r = chooseSpawner('fork', loads);
    assert.equal(r.spawner.kind, 'native');
    assert.match(r.warning ?? '', /unknown value "fork" \(use node, native or auto\); using native/);
  });
});

describe('loadNativeSpawn', () => {
  test('a missing addon is a reason, not an exception', () => {
    const r = loadNativeSpawn(['/nonexistent/reprovm_spawn.node']);
    assert.deepEqual(r, { ok: false, reason: 'the native addon is not built (npm run build:native)' });
  });

  test('a file that is not a loadable addon is a reason, not an exception', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-spawn-select-'));
    try {
      const bad = path.join(dir, 'reprovm_spawn.node');
      writeFileSync(bad, 'not an ELF object');
      const r = loadNativeSpawn([bad]);
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.reason, /^cannot load .*reprovm_spawn\.node: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('conversions', () => {
  test('envList leaves unset variables out', () => {
    assert.deepEqual(envList({ A: '1', B: undefined, C: '' }), ['A=1', 'C=']);
  });
  test('signalName maps numbers to Node names', () => {
    assert.equal(signalName(15), 'SIGTERM');
    assert.equal(signalName(9), 'SIGKILL');
    assert.equal(signalName(0), null);
  });
});
