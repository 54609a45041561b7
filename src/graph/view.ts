import type { TaskSpec } from '../manifest/types.js';
import type { TaskStatusSymbol } from './render.js';
import type { GraphEdge, TaskGraph } from './types.js';

/** How a task ended in the last run that reached it (`lastStatus` of the workspace state). */
export type LastRunStatus = 'executed' | 'cached' | 'failed' | 'skipped';

/** A task's status in an exported graph: its last run's outcome, or `not-run`. */
export type NodeStatus = LastRunStatus | 'not-run';

/** One task of a {@link GraphView}. */
export interface ViewNode {
  readonly name: string;
  readonly status: NodeStatus;
  readonly spec: TaskSpec;
}

/**
 * The selected part of a task graph with statuses: what the dot, mermaid and json renderers
 * draw. Nodes are in manifest order; edges (dependent → dependency) in the graph's order
 * (declared first, then inferred), both ends selected.
 */
export interface GraphView {
  readonly nodes: readonly ViewNode[];
  readonly edges: readonly GraphEdge[];
}

/** Builds the {@link GraphView} of `selected`, with each task's status from `lastStatus`. */
export function graphView(
  graph: TaskGraph,
  selected: readonly string[],
  lastStatus: (name: string) => LastRunStatus | undefined,
): GraphView {
  const chosen = new Set(selected);
  const nodes: ViewNode[] = [];
  for (const [name, node] of graph.nodes) {
    if (chosen.has(name)) nodes.push({ name, status: lastStatus(name) ?? 'not-run', spec: node.spec });
  }
  const edges = graph.edges.filter((e) => chosen.has(e.from) && chosen.has(e.to));
  return { nodes, edges };
}

/** The ASCII tree's symbol for a status (`[✔]` for executed, `[ ]` for not run, …). */
export function statusSymbol(status: NodeStatus | undefined): TaskStatusSymbol {
  switch (status) {
    case 'executed':
      return 'done';
    case 'cached':
      return 'cached';
    case 'failed':
      return 'failed';
    case 'skipped':
      return 'skipped';
    case 'not-run':
    case undefined:
      return 'pending';
  }
}
