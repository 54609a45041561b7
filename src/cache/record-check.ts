/**
 * Checks that an action record really belongs to the task about to use it, before any of its
 * blobs are imported or its outputs restored. A record comes from a cache that other machines
 * write (a shared remote, a pulled copy), so its shape being valid is not enough:
 *
 * - its key record must hash to its key (else it describes some other work),
 * - it must name the task that is looking it up,
 * - its outputs must be exactly the task's declared outputs, plus entries below a declared
 *   output that the record itself lists as a directory. Anything else would let a record write
 *   any path of the workspace (`.git/hooks/…`, a source file) on restore.
 */
import type { ActionRecord } from '../cas/action-cache.js';
import { parseKeyRecord } from '../hash/parse-key-record.js';
import { computeTaskKey } from '../hash/task-key.js';

/** Why `record` does not hash to its own key, or undefined when it does. */
export function keyRecordProblem(record: ActionRecord): string | undefined {
  const parsed = parseKeyRecord(record.keyRecord);
  if (parsed === undefined) return 'its key record is malformed';
  if (computeTaskKey(parsed) !== record.key) return 'its key record does not hash to its key';
  return undefined;
}

/**
 * Why `record` cannot be used for task `task` with declared outputs `declared` (workspace
 * relative, as the manifest normalises them), or undefined when it can.
 */
export function recordMismatch(record: ActionRecord, task: string, declared: readonly string[]): string | undefined {
  if (record.task !== task) return `it was made by task ${JSON.stringify(record.task)}`;
  const keyProblem = keyRecordProblem(record);
  if (keyProblem !== undefined) return keyProblem;
  const byPath = new Map<string, ActionRecord['outputs'][number]>();
  for (const o of record.outputs) {
    if (byPath.has(o.path)) return `it lists ${JSON.stringify(o.path)} twice`;
    byPath.set(o.path, o);
  }
  for (const d of declared) if (!byPath.has(d)) return `it lacks the declared output ${JSON.stringify(d)}`;
  const dirs = declared.filter((d) => byPath.get(d)?.kind === 'dir');
  for (const o of record.outputs) {
    if (declared.includes(o.path)) continue;
    if (!dirs.some((d) => o.path.startsWith(`${d}/`))) return `it lists ${JSON.stringify(o.path)}, which is not a declared output`;
  }
  return undefined;
}
