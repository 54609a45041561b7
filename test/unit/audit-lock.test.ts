import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { lockSyncWithin } from '../../src/ops/audit-file-lock.js';
import { AuditLog } from '../../src/ops/audit-log.js';
import { verifyAuditLog } from '../../src/ops/audit-verify.js';

const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-auditlock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A pid that is certainly not running: larger than any pid_max. */
const DEAD_PID = 2 ** 22 + 12345;

describe('audit append lock', () => {
  it('is exclusive and released', () => {
    const f = path.join(dir, 'a.lock');
    const held = lockSyncWithin(f, 100);
    assert.ok(held);
    assert.equal(readFileSync(f, 'utf8'), `${process.pid} ${hostname()}`);
    const t0 = Date.now();
    assert.equal(lockSyncWithin(f, 150), undefined); // held by us: a second taker times out
    assert.ok(Date.now() - t0 >= 140);
    held.release();
    assert.equal(existsSync(f), false);
  });

  it('breaks a lock left by a dead process on this host', () => {
    const log = path.join(dir, 'dead.log');
    writeFileSync(`${log}.lock`, `${DEAD_PID} ${hostname()}`);
    const warnings: string[] = [];
    AuditLog.open(log, { lockTimeoutMs: 2000, warn: (m) => warnings.push(m) }).append('run.started', {});
    assert.deepEqual(warnings, []);
    assert.equal(verifyAuditLog(log).entries, 1);
    assert.equal(existsSync(`${log}.lock`), false);
  });

  it('waits for a fresh lock of another host, keeps the entries, and writes them once it is gone', () => {
    const log = path.join(dir, 'foreign.log');
    writeFileSync(`${log}.lock`, '123 some-other-host');
    const warnings: string[] = [];
    const audit = AuditLog.open(log, { lockTimeoutMs: 200, warn: (m) => warnings.push(m) });
    audit.append('run.started', { n: 1 });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /is locked by another process; entries are delayed/);
    assert.equal(existsSync(log), false);
    // While the lock stays stuck, later appends only wait briefly instead of the full timeout.
    const t0 = Date.now();
    audit.append('task.started', { n: 1.5 });
    assert.ok(Date.now() - t0 < 150, `${Date.now() - t0} ms`);
    assert.equal(warnings.length, 1);
    rmSync(`${log}.lock`);
    audit.append('run.finished', { n: 2 });
    assert.equal(verifyAuditLog(log).entries, 3);
  });

  it('breaks a foreign lock once it is older than 10 s', () => {
    const log = path.join(dir, 'old-foreign.log');
    writeFileSync(`${log}.lock`, '123 some-other-host');
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${log}.lock`, old, old);
    AuditLog.open(log, { lockTimeoutMs: 2000 }).append('run.started', {});
    assert.equal(verifyAuditLog(log).entries, 1);
  });
});
