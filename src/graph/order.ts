import type { TaskGraph } from './types.js';

/**
 * Critical-path priority for scheduling: for each selected task, the estimated duration of the
 * longest chain of work that waits on it (itself plus its selected dependents, transitively).
 * Starting the task with the highest value first shortens the whole run, because nothing can
 * finish before its longest chain does.
 *
 * `estimateMs` gives a past duration (e.g. from run history) or undefined. Unknown tasks get the
 * median of the known estimates, so one unmeasured task is neither starved nor rushed; with no
 * estimates at all every task weighs 1, which makes the priority the length of the longest chain.
 */
export function criticalPathPriority(
  graph: TaskGraph,
  selected: readonly string[],
  estimateMs: (name: string) => number | undefined,
): Map<string, number> {
  const chosen = new Set(selected.filter((n) => graph.nodes.has(n)));
  const known = new Map<string, number>();
  for (const name of chosen) {
    const ms = estimateMs(name);
    if (ms !== undefined && Number.isFinite(ms) && ms >= 0) known.set(name, ms);
  }
  const fallback = median([...known.values()]) ?? 1;
  const priority = new Map<string, number>();
  // Reverse topological order: every dependent is scored before the tasks it waits on.
  for (const name of [...graph.order].reverse()) {
    if (!chosen.has(name)) continue;
    let longest = 0;
    for (const d of graph.nodes.get(name)?.dependents ?? []) longest = Math.max(longest, priority.get(d) ?? 0);
    priority.set(name, (known.get(name) ?? fallback) + longest);
  }
  return priority;
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const hi = sorted[mid] ?? 0;
  return sorted.length % 2 === 1 ? hi : ((sorted[mid - 1] ?? hi) + hi) / 2;
}
