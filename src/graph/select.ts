import type { Diagnostic } from '../errors/diagnostic.js';
import { suggestClosest } from '../errors/render-diagnostic.js';
import type { TaskGraph } from './types.js';

/** How many task names an "unknown target" note lists before it stops. */
const LISTED = 10;

/**
 * The tasks to run for `targets`: the targets plus everything they transitively depend on, in the
 * graph's topological order. No targets means every task. Unknown targets are reported (no span:
 * they come from the command line) and the known ones are still selected.
 */
export function selectTasks(
  graph: TaskGraph,
  targets: readonly string[],
): { selected: string[]; diagnostics: Diagnostic[] } {
  if (targets.length === 0) return { selected: [...graph.order], diagnostics: [] };
  const diagnostics: Diagnostic[] = [];
  const wanted = new Set<string>();
  const pending: string[] = [];
  for (const target of targets) {
    if (!graph.nodes.has(target)) {
      diagnostics.push({ severity: 'error', code: 'unknown-target', message: `unknown target "${target}"`, notes: [hint(graph, target)] });
    } else pending.push(target);
  }
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (wanted.has(name)) continue;
    wanted.add(name);
    pending.push(...(graph.nodes.get(name)?.deps ?? []));
  }
  return { selected: graph.order.filter((n) => wanted.has(n)), diagnostics };
}

function hint(graph: TaskGraph, target: string): string {
  const names = [...graph.nodes.keys()];
  const best = suggestClosest(target, names);
  if (best !== undefined) return `did you mean "${best}"?`;
  if (names.length === 0) return 'the manifest defines no tasks';
  const more = names.length > LISTED ? `, ... (${names.length - LISTED} more)` : '';
  return `available tasks: ${names.slice(0, LISTED).join(', ')}${more}`;
}
