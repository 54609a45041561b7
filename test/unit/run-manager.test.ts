/**
 * RunManager without a server: a run that cannot be recorded in the history is refused and
 * leaves nothing behind (no ghost run keeping the workspace busy).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ApiError } from '../../src/server/api-error.js';
import { RunManager } from '../../src/server/run-manager.js';

const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-run-manager-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('enqueue: a history that cannot be written is a 503 and no run stays queued or busy', async () => {
  const cacheDir = path.join(dir, 'cache');
  writeFileSync(path.join(dir, 'cache'), 'not a directory');
  const warnings: string[] = [];
  const runs = new RunManager({
    workspaces: [{ name: 'ws', manifest: path.join(dir, 'manifest.txt'), workspace: dir, cacheDir }],
    limits: { maxQueue: 5, runConcurrency: 1, historyLimit: 10 },
    node: process.execPath,
    cli: path.join(dir, 'no-cli.js'),
    env: {},
    warn: (m) => warnings.push(m),
  });
  assert.throws(
    () => runs.enqueue('ws', { targets: [], force: false, jobs: null, keepGoing: false }, 'test'),
    (e: unknown) => e instanceof ApiError && e.status === 503 && e.code === 'unavailable' && /could not be recorded/.test(e.message),
  );
  assert.equal(runs.busy(cacheDir), false);
  assert.deepEqual(runs.counts('ws'), { queued: 0, running: 0 });
  assert.deepEqual(runs.list('ws'), []);
  await runs.shutdown();
});
