import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GENESIS, lineHash, parseEntry } from '../../src/ops/audit-format.js';
import { AuditLog } from '../../src/ops/audit-log.js';
import { verifyAuditLog } from '../../src/ops/audit-verify.js';

const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-audit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A fresh log with `count` entries written through the real API. */
function makeLog(count: number): string {
  const file = path.join(dir, `audit-${n++}.log`);
  const log = AuditLog.open(file);
  for (let i = 0; i < count; i++) log.append('task.started', { task: `t${i}` });
  return file;
}

function lines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').slice(0, -1);
}

describe('audit chain', () => {
  it('chains entries from the genesis value and verifies', () => {
    const file = makeLog(5);
    const ls = lines(file);
    assert.equal(ls.length, 5);
    const first = parseEntry(ls[0]!)!;
    assert.equal(first.prev, GENESIS);
    assert.equal(first.seq, 1);
    assert.equal(first.pid, process.pid);
    assert.equal(first.type, 'task.started');
    assert.deepEqual(first.details, { task: 't0' });
    assert.equal(parseEntry(ls[1]!)!.prev, lineHash(ls[0]!));
    assert.deepEqual(verifyAuditLog(file), { ok: true, file, entries: 5, recoveredTornLines: [] });
  });

  it('a missing log is an empty valid log', () => {
    assert.equal(verifyAuditLog(path.join(dir, 'none.log')).ok, true);
  });

  it('detects an edited line and names it', () => {
    const file = makeLog(5);
    const ls = lines(file);
    ls[2] = ls[2]!.replace('"t2"', '"tX"');
    writeFileSync(file, `${ls.join('\n')}\n`);
    const r = verifyAuditLog(file);
    assert.equal(r.ok, false);
    assert.equal(r.problem?.kind, 'edited');
    assert.equal(r.problem?.line, 3);
    assert.match(r.problem!.message, /line 3 was modified/);
  });

  it('detects a line edited into invalid JSON', () => {
    const file = makeLog(4);
    const ls = lines(file);
    ls[1] = ls[1]!.slice(0, 20);
    writeFileSync(file, `${ls.join('\n')}\n`);
    const r = verifyAuditLog(file);
    assert.deepEqual([r.ok, r.problem?.kind, r.problem?.line], [false, 'invalid', 2]);
  });

  it('detects a deleted line', () => {
    const file = makeLog(5);
    const ls = lines(file);
    ls.splice(1, 1);
    writeFileSync(file, `${ls.join('\n')}\n`);
    const r = verifyAuditLog(file);
    assert.deepEqual([r.ok, r.problem?.kind, r.problem?.line], [false, 'deleted', 2]);
    assert.match(r.problem!.message, /entry 2 before line 2 was deleted/);
  });

  it('names a run of deleted lines', () => {
    const file = makeLog(6);
    const ls = lines(file);
    ls.splice(2, 3);
    writeFileSync(file, `${ls.join('\n')}\n`);
    assert.equal(verifyAuditLog(file).problem?.message, 'entries 3-5 before line 3 were deleted');
  });

  it('detects a deleted first line', () => {
    const file = makeLog(3);
    writeFileSync(file, `${lines(file).slice(1).join('\n')}\n`);
    assert.equal(verifyAuditLog(file).problem?.kind, 'deleted');
  });

  it('detects reordered lines', () => {
    const file = makeLog(5);
    const ls = lines(file);
    [ls[2], ls[3]] = [ls[3]!, ls[2]!];
    writeFileSync(file, `${ls.join('\n')}\n`);
    const r = verifyAuditLog(file);
    assert.deepEqual([r.ok, r.problem?.kind, r.problem?.line], [false, 'reordered', 3]);
    assert.match(r.problem!.message, /entry 3 should come before it but is at line 4/);
  });

  it('reports a torn last line, then the next append closes it off and continues the chain', () => {
    const file = makeLog(3);
    const good = lines(file);
    // A write killed half way: a fragment without a newline (cut inside a multi-byte character).
    const fragment = Buffer.from('{"v":1,"seq":4,"time":"2026-01-01T00:00:00.000Z","user":"é', 'utf8').subarray(0, -1);
    appendFileSync(file, fragment);
    const torn = verifyAuditLog(file);
    assert.deepEqual([torn.ok, torn.problem?.kind, torn.problem?.line], [false, 'torn', 4]);

    const log = AuditLog.open(file);
    log.append('run.started', { runId: 'r2' });
    const ls = readFileSync(file).toString('latin1').split('\n');
    assert.equal(ls.length, 7); // 3 good + fragment + torn-line + new entry + final ''
    const recovery = parseEntry(ls[4]!)!;
    assert.equal(recovery.type, 'audit.torn-line');
    assert.equal(recovery.seq, 4);
    assert.equal(recovery.prev, lineHash(good[2]!));
    assert.equal(recovery.details.bytes, fragment.length);
    assert.equal(recovery.details.sha256, lineHash(fragment));
    assert.equal(parseEntry(ls[5]!)!.type, 'run.started');
    const ok = verifyAuditLog(file);
    assert.deepEqual(ok, { ok: true, file, entries: 5, recoveredTornLines: [4] });
  });

  it('a torn line closed off without its recovery entry is reported', () => {
    const file = makeLog(2);
    appendFileSync(file, '{"v":1,"se\n');
    const log = AuditLog.open(file);
    log.append('run.started', {});
    assert.deepEqual(verifyAuditLog(file).problem?.kind, 'invalid');
  });

  it('batched entries are written on flush, chained like immediate ones', () => {
    const file = path.join(dir, `batch-${n++}.log`);
    const log = AuditLog.open(file, { batch: { maxDelayMs: 60_000, maxEntries: 1000 } });
    for (let i = 0; i < 10; i++) log.append('task.succeeded', { task: `t${i}` });
    assert.throws(() => readFileSync(file));
    log.flush();
    assert.equal(lines(file).length, 10);
    assert.equal(verifyAuditLog(file).entries, 10);
  });

  it('redacts secrets and URL credentials in details', () => {
    const file = path.join(dir, `redact-${n++}.log`);
    const log = AuditLog.open(file, { redact: (t) => t.split('s3cr3t-value').join('***') });
    log.append('remote.push', { url: 's3://AKIA:pw@bucket/x', nested: { list: ['token s3cr3t-value here'] } });
    const text = readFileSync(file, 'utf8');
    assert.doesNotMatch(text, /s3cr3t-value|AKIA|pw@/);
    assert.deepEqual(parseEntry(lines(file)[0]!)!.details, { url: 's3://***@bucket/x', nested: { list: ['token *** here'] } });
  });

  it('never throws when the log cannot be written; warns once', () => {
    const warnings: string[] = [];
    const blocker = path.join(dir, `file-${n++}`);
    writeFileSync(blocker, 'x');
    const log = AuditLog.open(path.join(blocker, 'audit.log'), { warn: (m) => warnings.push(m) });
    log.append('run.started', {});
    log.append('run.finished', {});
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /cannot write the audit log/);
  });
});

describe('audit log with concurrent writers', () => {
  const writer = fileURLToPath(new URL('../helpers/audit-writer.ts', import.meta.url));
  const runWriters = (file: string, processes: number, count: number, mode: string): Promise<number[]> =>
    Promise.all(
      Array.from({ length: processes }, () =>
        new Promise<number>((resolve, reject) => {
          const child = spawn(process.execPath, ['--import', 'tsx', writer, file, String(count), mode], { stdio: ['ignore', 'ignore', 'inherit'] });
          child.on('error', reject);
          child.on('close', (code) => resolve(code ?? -1));
        }),
      ),
    );

  for (const mode of ['immediate', 'batch']) {
    it(`8 processes x 1000 entries (${mode}): whole lines, valid chain, exact count`, { timeout: 120_000 }, async () => {
      const file = path.join(dir, `concurrent-${mode}.log`);
      const codes = await runWriters(file, 8, 1000, mode);
      assert.deepEqual(codes, Array(8).fill(0));
      const ls = lines(file);
      assert.equal(ls.length, 8000);
      const perWriter = new Map<number, number>();
      for (const l of ls) {
        const e = parseEntry(l);
        assert.ok(e, `not a whole entry: ${l.slice(0, 80)}`);
        perWriter.set(e.pid, (perWriter.get(e.pid) ?? 0) + 1);
      }
      assert.deepEqual([...perWriter.values()], Array(8).fill(1000));
      assert.deepEqual(verifyAuditLog(file), { ok: true, file, entries: 8000, recoveredTornLines: [] });
    });
  }
});
