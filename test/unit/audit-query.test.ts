import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { formatEntry, GENESIS } from '../../src/ops/audit-format.js';
import { parseSince, queryAudit } from '../../src/ops/audit-query.js';

const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-auditq-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Hand-made entries with fixed times (the chain is irrelevant to queries).
const file = path.join(dir, 'audit.log');
const rows: Array<[string, string]> = [
  ['2026-01-01T10:00:00.000Z', 'run.started'],
  ['2026-01-01T10:00:01.000Z', 'task.started'],
  ['2026-01-01T10:00:02.000Z', 'task.failed'],
  ['2026-01-01T11:00:00.000Z', 'run.finished'],
  ['2026-01-01T12:00:00.000Z', 'remote.push'],
];
rows.forEach(([time, type], i) =>
  appendFileSync(file, `${formatEntry({ seq: i + 1, time, user: 'u', host: 'h', pid: 1, type, details: { i }, prev: GENESIS })}\n`),
);
appendFileSync(file, '{"torn'); // a torn tail is skipped

describe('audit show queries', () => {
  const types = (q: Parameters<typeof queryAudit>[1]): string[] => queryAudit(file, q).map((e) => e.type);

  it('all entries, oldest first, skipping a torn tail', () => {
    assert.deepEqual(types({}), rows.map((r) => r[1]));
  });
  it('--since a time', () => {
    assert.deepEqual(types({ since: new Date('2026-01-01T10:30:00Z') }), ['run.finished', 'remote.push']);
  });
  it('--type exact names and prefixes', () => {
    assert.deepEqual(types({ types: ['run.started', 'remote.push'] }), ['run.started', 'remote.push']);
    assert.deepEqual(types({ types: ['task.'] }), ['task.started', 'task.failed']);
  });
  it('--limit keeps the newest N', () => {
    assert.deepEqual(types({ limit: 2 }), ['run.finished', 'remote.push']);
    assert.deepEqual(types({ types: ['task.', 'run.'], limit: 1 }), ['run.finished']);
  });
  it('a missing log has no entries', () => {
    assert.deepEqual(queryAudit(path.join(dir, 'none'), {}), []);
  });
  it('parses --since durations and ISO times', () => {
    const now = new Date('2026-01-02T00:00:00Z');
    assert.equal(parseSince('1h', now)?.toISOString(), '2026-01-01T23:00:00.000Z');
    assert.equal(parseSince('30m', now)?.toISOString(), '2026-01-01T23:30:00.000Z');
    assert.equal(parseSince('2d', now)?.toISOString(), '2025-12-31T00:00:00.000Z');
    assert.equal(parseSince('2026-01-01T12:00:00Z', now)?.toISOString(), '2026-01-01T12:00:00.000Z');
    assert.equal(parseSince('yesterday', now), undefined);
    assert.equal(parseSince('5x', now), undefined);
  });
});
