import type { TaskGraph } from '../graph/types.js';
import type { StatMemo } from '../hash/file-hasher.js';
import { envDigest, type InputStat, type UpToDateStamp } from '../state/up-to-date-stamp.js';
import type { WorkspaceStateData } from '../state/workspace-state.js';
import { isGlob } from '../util/glob.js';

/**
 * The up-to-date stamp a successful run can leave behind (see state/up-to-date-stamp.ts), or
 * undefined when this build cannot be proven up to date by stat calls alone: a task that is
 * never cached, an input that is a directory or a glob, an input without a stat memo entry
 * (hashed within the racy window), or a task without recorded outputs.
 */
export function upToDateStamp(
  digest: string,
  run: { graph: TaskGraph; selected: readonly string[]; state: WorkspaceStateData; memo: StatMemo; env: NodeJS.ProcessEnv },
): UpToDateStamp | undefined {
  const inputs = new Map<string, InputStat>();
  const outputs: UpToDateStamp['outputs'][number][] = [];
  const envNames = new Set<string>();
  let savedMs = 0;
  for (const name of run.selected) {
    const spec = run.graph.nodes.get(name)?.spec;
    const last = run.state.tasks[name];
    if (!spec || !spec.cache || !last) return undefined;
    for (const { value } of spec.inputs) {
      if (inputs.has(value)) continue;
      const m = isGlob(value) ? undefined : run.memo.get(value);
      if (!m) return undefined;
      inputs.set(value, [value, m.size, m.mtimeNs, m.ctimeNs, m.ino]);
    }
    for (const { value } of spec.env) envNames.add(value);
    if (last.outputs.length > 0) {
      outputs.push({ entries: last.outputs.map((o) => (o.kind === 'symlink' ? { kind: o.kind, path: o.path, target: o.target } : { kind: o.kind, path: o.path })), stats: last.outputStats });
    }
    savedMs += last.durationMs;
  }
  const names = [...envNames].sort();
  return { v: 1, digest, tasks: run.selected, envNames: names, envDigest: envDigest(names, run.env), inputs: [...inputs.values()], outputs, savedMs };
}
