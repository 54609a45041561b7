import assert from 'node:assert/strict';
import { cpSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { Rig, statuses } from '../helpers/rig.js';

// Every example in manifests/ must work for a new user: built cold, then fully cached.
const EXAMPLES = fileURLToPath(new URL('../../manifests/', import.meta.url));

describe('example manifests', () => {
  for (const name of readdirSync(EXAMPLES)) {
    test(`manifests/${name} builds, then is fully cached`, async () => {
      const rig = new Rig();
      try {
        // Copy the example as a checkout would have it: no cache, no outputs of earlier runs.
        cpSync(path.join(EXAMPLES, name), rig.dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}.reprovm`) });
        const cold = await rig.run(['-j', '4', '-f', '--json', 'manifest.txt']);
        assert.equal(cold.code, 0, cold.stderr + cold.stdout);
        const first = statuses(cold.stdout);
        assert.ok(Object.values(first).length > 0);
        assert.ok(Object.values(first).every((s) => s === 'executed'), JSON.stringify(first));
        const warm = await rig.run(['-j', '4', '--json', 'manifest.txt']);
        assert.equal(warm.code, 0, warm.stderr);
        assert.ok(Object.values(statuses(warm.stdout)).every((s) => s === 'cached'), warm.stdout);
      } finally {
        rig.cleanup();
      }
    });
  }
});
