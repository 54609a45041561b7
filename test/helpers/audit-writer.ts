// Appends N audit entries to a log from its own process (concurrency tests).
// Usage: node --import tsx audit-writer.ts FILE COUNT immediate|batch
import { AuditLog } from '../../src/ops/audit-log.js';

const [file, countText, mode] = process.argv.slice(2);
if (!file || !countText) throw new Error('usage: audit-writer.ts FILE COUNT [immediate|batch]');
const log = AuditLog.open(file, mode === 'batch' ? { batch: { maxDelayMs: 20, maxEntries: 64 } } : {});
const count = Number(countText);
for (let i = 0; i < count; i++) {
  log.append('task.started', { task: `t${i}`, writer: process.pid, pad: 'x'.repeat(i % 200) });
  if (mode === 'batch' && i % 100 === 99) await new Promise((r) => setTimeout(r, 1));
}
await log.close();
