import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunEvent } from '../../src/events/events.js';
import { AuditReporter } from '../../src/report/audit-reporter.js';

const time = '2026-01-01T00:00:00.000Z';

function record(events: RunEvent[], uncached: string[] = []): Array<[string, Record<string, unknown>]> {
  const out: Array<[string, Record<string, unknown>]> = [];
  const r = new AuditReporter({ append: (type, details) => out.push([type, details]) }, { uncachedTasks: uncached });
  for (const e of events) r.onEvent(e);
  return out;
}

const summary = { total: 1, executed: 1, cached: 0, upToDate: 0, failed: 0, skipped: 0, wallMs: 5, savedMs: 0, interrupted: false };

describe('AuditReporter', () => {
  it('maps run events to audit entries and never audits output lines', () => {
    const got = record([
      { type: 'run-started', time, runId: 'r', workspace: '/w', tasks: ['a', 'b', 'c', 'd'], jobs: 2, dryRun: false },
      { type: 'task-started', time, task: 'a', key: 'k1', attempt: 1, reason: 'no-record' },
      { type: 'task-output', time, task: 'a', stream: 'stdout', line: 'hello', replay: false },
      { type: 'task-finished', time, task: 'a', status: 'executed', key: 'k1', resultHash: 'h1', durationMs: 3, outputs: [{ path: 'x', kind: 'file', digest: 'd' }] },
      { type: 'task-finished', time, task: 'b', status: 'cached', key: 'k2', resultHash: 'h2', durationMs: 1, cache: { result: 'hit', source: 'local', upToDate: false, bytesRestored: 10, filesRestored: 1, savedMs: 7 } },
      { type: 'task-finished', time, task: 'c', status: 'failed', key: 'k3', durationMs: 2, failure: { reason: 'exit-non-zero', message: 'm', exitCode: 2 } },
      { type: 'task-finished', time, task: 'd', status: 'skipped', durationMs: 0, skippedBecause: 'c' },
      { type: 'run-finished', time, runId: 'r', exitCode: 1, summary },
    ]);
    assert.deepEqual(got.map(([t]) => t), ['run.started', 'task.started', 'task.succeeded', 'cache.stored', 'task.restored', 'task.failed', 'run.finished']);
    assert.deepEqual(got[3]![1], { runId: 'r', task: 'a', key: 'k1', resultHash: 'h1', outputs: 1 });
    assert.deepEqual(got[4]![1], { runId: 'r', task: 'b', key: 'k2', resultHash: 'h2', source: 'local', upToDate: false, filesRestored: 1, bytesRestored: 10 });
    assert.deepEqual(got[5]![1], { runId: 'r', task: 'c', key: 'k3', durationMs: 2, reason: 'exit-non-zero', exitCode: 2 });
    assert.equal(got[6]![1].exitCode, 1);
  });

  it('an executed task with cache = false stores nothing', () => {
    const got = record([{ type: 'task-finished', time, task: 'n', status: 'executed', durationMs: 1 }], ['n']);
    assert.deepEqual(got.map(([t]) => t), ['task.succeeded']);
  });

  it('a corrupt lookup becomes cache.corrupt with the warning that explained it', () => {
    const got = record([
      { type: 'warning', time, task: 't', message: 'the cache record of task "t" was corrupt (bad json); it was quarantined' },
      { type: 'task-finished', time, task: 't', status: 'executed', key: 'k', durationMs: 1, cache: { result: 'miss', reason: 'corrupt' } },
    ]);
    assert.deepEqual(got[0], ['cache.corrupt', { runId: '', task: 't', key: 'k', message: 'the cache record of task "t" was corrupt (bad json); it was quarantined' }]);
  });

  it('remote transfers, auth failures and rejected signatures', () => {
    const got = record([
      { type: 'remote-transfer', time, direction: 'upload', task: 'a', key: 'k', blobs: 2, bytes: 100, durationMs: 4 },
      { type: 'remote-transfer', time, direction: 'download', task: 'b', key: 'k2', blobs: 1, bytes: 50, durationMs: 3 },
      { type: 'warning', time, message: 'remote auth failed: 403', remote: { kind: 'auth' } },
      { type: 'warning', time, task: 'c', message: 'bad signature', remote: { kind: 'signature' } },
      { type: 'warning', time, message: 'remote unavailable', remote: { kind: 'unavailable' } },
    ]);
    assert.deepEqual(got.map(([t]) => t), ['remote.push', 'remote.pull', 'remote.auth-failure', 'remote.signature-rejected']);
    assert.deepEqual(got[0]![1], { runId: '', task: 'a', key: 'k', blobs: 2, bytes: 100, durationMs: 4 });
  });

  it('a dry run is not audited', () => {
    assert.deepEqual(record([
      { type: 'run-started', time, runId: 'r', workspace: '/w', tasks: [], jobs: 1, dryRun: true },
      { type: 'run-finished', time, runId: 'r', exitCode: 0, summary },
    ]), []);
  });
});
