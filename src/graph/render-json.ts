import type { EdgeKind } from './types.js';
import type { GraphView, NodeStatus } from './view.js';

/**
 * Version of the `reprovm graph --format json` document (schemas/graph.schema.json). Bumped
 * only for changes a reader could trip over (a field removed, renamed or retyped); fields may
 * be added within a version.
 */
export const GRAPH_SCHEMA_VERSION = 1;

/** One task in the JSON graph. */
export interface GraphJsonTask {
  readonly name: string;
  readonly status: NodeStatus;
  readonly description: string | null;
  readonly cmd: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly cache: boolean;
}

/** One edge in the JSON graph: `from` depends on `to`. */
export interface GraphJsonEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: EdgeKind;
  /** Inferred edges: the input of `from` that matched an output of `to`; else null. */
  readonly via: string | null;
}

/** The `reprovm graph --format json` document. */
export interface GraphJson {
  readonly schemaVersion: typeof GRAPH_SCHEMA_VERSION;
  readonly workspace: string;
  readonly manifest: string;
  /** Targets given on the command line; empty = all tasks. */
  readonly targets: readonly string[];
  readonly tasks: readonly GraphJsonTask[];
  readonly edges: readonly GraphJsonEdge[];
}

/** The graph as a versioned JSON document (pretty-printed, ending with a newline). */
export function renderJson(view: GraphView, meta: { workspace: string; manifest: string; targets: readonly string[] }): string {
  const doc: GraphJson = {
    schemaVersion: GRAPH_SCHEMA_VERSION,
    workspace: meta.workspace,
    manifest: meta.manifest,
    targets: meta.targets,
    tasks: view.nodes.map((n) => ({
      name: n.name,
      status: n.status,
      description: n.spec.description === '' ? null : n.spec.description,
      cmd: n.spec.cmd.value,
      inputs: n.spec.inputs.map((i) => i.value),
      outputs: n.spec.outputs.map((o) => o.value),
      cache: n.spec.cache,
    })),
    edges: view.edges.map((e) => ({ from: e.from, to: e.to, kind: e.kind, via: e.via ?? null })),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
