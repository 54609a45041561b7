import type { TaskSpec } from '../manifest/types.js';

/** Why an edge exists: declared in `deps`, or inferred because the task reads another task's output. */
export type EdgeKind = 'declared' | 'inferred';

export interface GraphEdge {
  readonly from: string; // the dependent task
  readonly to: string; // the dependency
  readonly kind: EdgeKind;
  /** For inferred edges: the input path that matched the dependency's output. */
  readonly via?: string;
}

export interface GraphNode {
  readonly spec: TaskSpec;
  /** Dependencies (declared ∪ inferred), sorted by name, without duplicates. */
  readonly deps: readonly string[];
  /** Tasks that depend on this one, sorted by name. */
  readonly dependents: readonly string[];
}

export interface TaskGraph {
  /** Every task by name. */
  readonly nodes: ReadonlyMap<string, GraphNode>;
  /** Task names in a topological order (dependencies first), ties broken by manifest order. */
  readonly order: readonly string[];
  readonly edges: readonly GraphEdge[];
}
