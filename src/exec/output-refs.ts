import type { OutputEntry } from '../cas/action-cache.js';
import type { TaskOutputRef } from '../events/events.js';

/**
 * The outputs of a task as `task-finished` reports them: path, kind and (files) digest. Only
 * these fields, so the `--json` contract does not silently grow with the record's internals
 * (size, mode, link target).
 */
export function outputRefs(entries: readonly OutputEntry[]): TaskOutputRef[] {
  return entries.map((e) => (e.digest === undefined ? { path: e.path, kind: e.kind } : { path: e.path, kind: e.kind, digest: e.digest }));
}
