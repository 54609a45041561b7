import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { GraphEdge, GraphNode, TaskGraph } from '../graph/types.js';
import type { Manifest, TaskSpec } from '../manifest/types.js';
import { writeFileAtomic } from '../util/atomic-write.js';

/**
 * `<workspace>/.reprovm/graph.json`: the parsed and validated manifest and its graph, keyed
 * by a digest of everything they were derived from (manifest text, path, workspace, parse
 * options). A no-op run of a large manifest would otherwise spend most of its time parsing
 * and building the graph in cold, unoptimised JavaScript; JSON.parse is native.
 *
 * Only graphs without errors are cached, so a cached graph never hides a diagnostic. A
 * missing, stale or unreadable file is simply rebuilt.
 */
const CACHE_VERSION = 2; // 2: a task's retries may be unset

interface CachedGraph {
  readonly version: number;
  readonly digest: string;
  readonly tasks: readonly TaskSpec[];
  readonly nodes: readonly { readonly name: string; readonly deps: readonly string[]; readonly dependents: readonly string[] }[];
  readonly order: readonly string[];
  readonly edges: readonly GraphEdge[];
}

function cachePath(workspace: string): string {
  return path.join(workspace, '.reprovm', 'graph.json');
}

/** What the graph is derived from, as one digest. */
export function graphDigest(parts: { text: string; file: string; workspace: string; allowAbsoluteInputs: boolean }): string {
  return createHash('sha256')
    .update(JSON.stringify([CACHE_VERSION, parts.file, parts.workspace, parts.allowAbsoluteInputs]))
    .update('\0')
    .update(parts.text)
    .digest('hex');
}

export function loadCachedGraph(
  workspace: string,
  file: string,
  digest: string,
): { manifest: Manifest; graph: TaskGraph } | undefined {
  let cached: CachedGraph;
  try {
    cached = JSON.parse(readFileSync(cachePath(workspace), 'utf8')) as CachedGraph;
  } catch {
    return undefined;
  }
  if (cached.version !== CACHE_VERSION || cached.digest !== digest || !Array.isArray(cached.tasks)) return undefined;
  const specs = new Map(cached.tasks.map((t) => [t.name, t]));
  const nodes = new Map<string, GraphNode>();
  for (const n of cached.nodes) {
    const spec = specs.get(n.name);
    if (!spec) return undefined;
    nodes.set(n.name, { spec, deps: n.deps, dependents: n.dependents });
  }
  return { manifest: { file, workspace, tasks: cached.tasks }, graph: { nodes, order: cached.order, edges: cached.edges } };
}

export async function saveCachedGraph(workspace: string, digest: string, manifest: Manifest, graph: TaskGraph): Promise<void> {
  const data: CachedGraph = {
    version: CACHE_VERSION,
    digest,
    tasks: manifest.tasks,
    nodes: [...graph.nodes.entries()].map(([name, n]) => ({ name, deps: n.deps, dependents: n.dependents })),
    order: graph.order,
    edges: graph.edges,
  };
  await mkdir(path.dirname(cachePath(workspace)), { recursive: true });
  await writeFileAtomic(cachePath(workspace), JSON.stringify(data), { fsync: false });
}
