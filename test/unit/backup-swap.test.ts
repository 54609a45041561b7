import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { sweepLeftovers } from '../../src/ops/backup/leftovers.js';
import { SwapRollbackError, swapIn } from '../../src/ops/backup/swap.js';

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** A cache dir with live objects and records, and a restore work dir with an assembled state. */
function setup(): { into: string; work: string; state: string } {
  const into = mkdtempSync(path.join(tmpdir(), 'reprovm-swap-'));
  roots.push(into);
  const put = (file: string, text: string): void => {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
  };
  put(path.join(into, 'cas/objects/ab/live-object'), 'live object');
  put(path.join(into, 'cache/live-record.json'), 'live record');
  // A pid far above any pid_max: a dead process.
  const work = path.join(into, `.restore-${2 ** 22 + 777}-deadbeef`);
  const state = path.join(work, 'state');
  put(path.join(state, 'cas/objects/cd/new-object'), 'new object');
  put(path.join(state, 'cache/new-record.json'), 'new record');
  return { into, work, state };
}

const liveState = (into: string): string[] => [
  ...readdirSync(path.join(into, 'cas/objects'), { recursive: true }).map(String).sort(),
  ...readdirSync(path.join(into, 'cache')).sort(),
];
const config = { file: 'reprovm.conf.restored', replace: true };

describe('backup restore swap', () => {
  it('a failure between the renames rolls back: the live cache is as before', async () => {
    const { into, work, state } = setup();
    const hook = (rel: string): void => {
      if (rel === 'cache') throw new Error('forced failure after objects were swapped');
    };
    await assert.rejects(swapIn(state, into, work, { config, afterMoveAside: hook }), /forced failure/);
    assert.deepEqual(liveState(into), ['ab', path.join('ab', 'live-object'), 'live-record.json']);
    assert.equal(readFileSync(path.join(into, 'cache/live-record.json'), 'utf8'), 'live record');
    // Nothing of the live state is left under the work dir, so removing it loses nothing.
    assert.ok(!existsSync(path.join(work, 'old/cache')) && !existsSync(path.join(work, 'old/cas/objects')));
  });

  it('when the rollback fails too, the old state is kept under the work dir and the next sweep puts it back', async () => {
    const { into, work, state } = setup();
    const hook = (rel: string): void => {
      if (rel !== 'cache') return;
      writeFileSync(path.join(work, 'discarded'), 'blocks the rollback');
      throw new Error('forced failure');
    };
    await assert.rejects(swapIn(state, into, work, { config, afterMoveAside: hook }), SwapRollbackError);
    assert.ok(existsSync(path.join(work, 'old/cache/live-record.json')), 'the old records are still there');
    rmSync(path.join(work, 'discarded'));
    assert.equal(await sweepLeftovers(into), 1);
    assert.deepEqual(liveState(into), ['ab', path.join('ab', 'live-object'), 'live-record.json']);
  });

  it('a successful swap puts the new state in place and marks old/ as garbage', async () => {
    const { into, work, state } = setup();
    writeFileSync(path.join(state, 'reprovm.conf'), '# archived\n');
    assert.deepEqual(await swapIn(state, into, work, { config }), ['reprovm.conf.restored']);
    assert.deepEqual(liveState(into), ['cd', path.join('cd', 'new-object'), 'new-record.json']);
    assert.ok(!existsSync(path.join(into, 'reprovm.conf')));
    // The sweep of a finished swap deletes old/ without touching the live state.
    assert.equal(await sweepLeftovers(into), 1);
    assert.deepEqual(liveState(into), ['cd', path.join('cd', 'new-object'), 'new-record.json']);
  });

  it('a restore killed mid-swap is rolled back by the next sweep, not deleted', async () => {
    const { into, work, state } = setup();
    // What a crash after the first rename pair leaves: new objects live, the old objects and
    // the live records under old/, no live cache/.
    mkdirSync(path.join(work, 'old/cas'), { recursive: true });
    mkdirSync(path.join(work, 'old'), { recursive: true });
    const { renameSync } = await import('node:fs');
    renameSync(path.join(into, 'cas/objects'), path.join(work, 'old/cas/objects'));
    renameSync(path.join(state, 'cas/objects'), path.join(into, 'cas/objects'));
    renameSync(path.join(into, 'cache'), path.join(work, 'old/cache'));
    assert.equal(await sweepLeftovers(into), 1);
    assert.ok(!existsSync(work), 'the dead restore\'s work dir is gone');
    assert.deepEqual(liveState(into), ['ab', path.join('ab', 'live-object'), 'live-record.json']);
  });
});
