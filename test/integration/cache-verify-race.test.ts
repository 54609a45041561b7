import assert from 'node:assert/strict';
import { existsSync, readdirSync, renameSync } from 'node:fs';
import { describe, it } from 'node:test';
import { verifyCache } from '../../src/ops/cache-verify.js';
import { rigsRemovedAfter } from '../helpers/rig.js';

const newRig = rigsRemovedAfter('reprovm-verify-race-');

describe('cache verify with a build running', () => {
  for (const repair of [false, true]) {
    it(`an object stored after the object scan is not taken for missing (repair: ${repair})`, async () => {
      const rig = newRig();
      rig.write({ 'm.txt': "task a {\n  cmd = printf 'alpha' > a.txt\n  outputs = a.txt\n}\n" });
      assert.equal((await rig.run(['m.txt', '-q'])).code, 0);
      const objects = rig.path('.reprovm/cas/objects');
      const aside = rig.path('aside');
      // Take the objects away while verify lists them, and put them back (as a concurrent build
      // storing objects, then its record, would) before it reads the records.
      renameSync(objects, aside);
      const report = await verifyCache(rig.path('.reprovm'), {
        repair,
        afterObjectScan: async () => renameSync(aside, objects),
      });
      assert.deepEqual(report.problems, []);
      assert.equal(report.ok, true);
      assert.ok(readdirSync(rig.path('.reprovm/cache')).some((n) => n.endsWith('.json')), 'the record is kept');
      assert.ok(existsSync(objects));
    });
  }
});
