import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { AuditLog } from '../../src/ops/audit-log.js';
import { verifyAuditLog } from '../../src/ops/audit-verify.js';

const dir = mkdtempSync(path.join(tmpdir(), 'reprovm-auditsys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('audit syslog copy', () => {
  it('a missing logger command is one warning; the log itself is still written', async () => {
    const savedPath = process.env.PATH;
    process.env.PATH = dir; // no `logger` here
    try {
      const warnings: string[] = [];
      const log = AuditLog.open(path.join(dir, 'audit.log'), { syslog: true, warn: (m) => warnings.push(m) });
      log.append('run.started', {});
      log.append('run.finished', {});
      await log.close();
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /cannot run logger for the syslog copy of the audit log/);
      assert.equal(verifyAuditLog(path.join(dir, 'audit.log')).entries, 2);
    } finally {
      process.env.PATH = savedPath;
    }
  });
});
