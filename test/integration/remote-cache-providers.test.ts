import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import type { RunEvent } from '../../src/events/events.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite } from '../helpers/azurite.js';
import { startGcsFake } from '../helpers/gcs-fake.js';
import { Rig } from '../helpers/rig.js';

/*
 * The two-machine round trip on the other providers: azurite (Azure Blob) and the GCS JSON-API
 * fake. Machine A builds and uploads; machine B restores everything without running a command.
 */

const MANIFEST = `
task gen {
  cmd = head -c 20000000 /dev/urandom > big.bin && echo small > small.txt
  outputs = big.bin, small.txt
}
task use {
  cmd = wc -c < big.bin > size.txt
  inputs = big.bin
  outputs = size.txt
}
`;

const rigs: Rig[] = [];
after(() => {
  for (const r of rigs) r.cleanup();
});

function machine(): Rig {
  const rig = new Rig('reprovm-remote-prov-');
  rigs.push(rig);
  rig.write({ 'manifest.txt': MANIFEST });
  return rig;
}

async function roundTrip(flags: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const a = machine();
  const init = await a.run(['cache', 'init-remote', ...flags], { env });
  assert.equal(init.code, 0, init.stderr);
  const built = await a.run(['--json', ...flags, 'manifest.txt'], { env });
  assert.equal(built.code, 0, built.stderr);
  const up = built.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as RunEvent);
  assert.equal(up.filter((e) => e.type === 'remote-transfer' && e.direction === 'upload').length, 2, built.stdout.slice(-1500));

  const b = machine();
  const r = await b.run(['--json', ...flags, 'manifest.txt'], { env });
  assert.equal(r.code, 0, r.stderr);
  const evs = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as RunEvent);
  assert.equal(evs.filter((e) => e.type === 'task-started').length, 0, 'no command ran on B');
  const fin = evs.filter((e): e is Extract<RunEvent, { type: 'task-finished' }> => e.type === 'task-finished');
  assert.equal(fin.length, 2);
  for (const f of fin) assert.ok(f.status === 'cached' && f.cache?.result === 'hit' && f.cache.source === 'remote', JSON.stringify(f));
  assert.deepEqual(evs.filter((e) => e.type === 'warning'), []);
  for (const o of ['big.bin', 'small.txt', 'size.txt']) assert.deepEqual(readFileSync(b.path(o)), readFileSync(a.path(o)), o);
  // big.bin took the one-pass import: its staged copy was renamed into the workspace, nothing is left behind.
  assert.deepEqual(readdirSync(b.path('.reprovm/cas/tmp')), []);
}

describe('remote cache on other providers', () => {
  test('azurite (Azure Blob): A builds, B restores everything byte-identical', async () => {
    const az = await startAzurite();
    try {
      await roundTrip(['--remote', 'azblob://reprovm-cache/team', '--remote-endpoint', az.endpoint], {
        AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT,
        AZURE_STORAGE_KEY: AZURITE_KEY,
      });
    } finally {
      await az.stop();
    }
  });

  test('GCS JSON-API fake: A builds, B restores everything byte-identical', async () => {
    const gcs = await startGcsFake();
    try {
      await roundTrip(['--remote', 'gs://reprovm-cache/team', '--remote-endpoint', gcs.endpoint], { GOOGLE_CLOUD_PROJECT: 'test-project' });
    } finally {
      await gcs.stop();
    }
  });
});
