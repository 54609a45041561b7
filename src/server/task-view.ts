/**
 * The tasks of a served workspace as the API shows them: parsed from the manifest (re-parsed
 * when the file changes), with how each ended last (`state.json`), and for one task the
 * explain record of `reprovm explain --json` (what a run would do now, and why).
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { buildGraph } from '../graph/build-graph.js';
import { selectTasks } from '../graph/select.js';
import type { TaskGraph } from '../graph/types.js';
import { renderReason } from '../hash/explain.js';
import { parseManifest } from '../manifest/parse.js';
import { planTasks } from '../exec/plan.js';
import { loadWorkspaceState, statePath, type WorkspaceStateData } from '../state/workspace-state.js';
import { ApiError, notFound } from './api-error.js';
import type { RunManager } from './run-manager.js';
import type { ServedWorkspace } from './workspaces.js';

/** `lastRuns` of a task: at most this many, from at most LAST_RUNS_SCANNED newest runs. */
const LAST_RUNS = 10;
const LAST_RUNS_SCANNED = 50;

type LastStatus = 'not-run' | 'executed' | 'cached' | 'failed' | 'skipped';

/** One task as `GET /tasks` lists it. */
export interface TaskSummary {
  readonly name: string;
  readonly description: string | null;
  readonly deps: readonly string[];
  readonly lastStatus: LastStatus;
  readonly key: string | null;
  readonly resultHash: string | null;
}

/** Parsed manifests and workspace state files, keyed by path and re-read when size or mtime change. */
export class ManifestCache {
  readonly #entries = new Map<string, { stamp: string; graph: TaskGraph }>();
  readonly #states = new Map<string, { stamp: string; state: WorkspaceStateData }>();

  /** The workspace's state.json (what its last runs left), re-read only when it changed. */
  state(ws: ServedWorkspace): WorkspaceStateData {
    let stamp = 'missing';
    try {
      const st = statSync(statePath(ws.workspace));
      stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
    } catch {
      // No state yet: loadWorkspaceState answers with an empty one.
    }
    const hit = this.#states.get(ws.workspace);
    if (hit && hit.stamp === stamp) return hit.state;
    const state = loadWorkspaceState(ws.workspace);
    this.#states.set(ws.workspace, { stamp, state });
    return state;
  }

  /**
   * The graph of a workspace's manifest; a missing or invalid manifest is a 409 `invalid-manifest`
   * naming the first problem (the workspace's state, not a fault of the server).
   */
  graph(ws: ServedWorkspace): TaskGraph {
    let stamp: string;
    try {
      const st = statSync(ws.manifest);
      stamp = `${st.size}:${st.mtimeMs}`;
    } catch {
      throw new ApiError(409, 'invalid-manifest', `the manifest of workspace "${ws.name}" cannot be read; check that ${path.basename(ws.manifest)} exists in the workspace directory`);
    }
    const hit = this.#entries.get(ws.manifest);
    if (hit && hit.stamp === stamp) return hit.graph;
    const text = readFileSync(ws.manifest, 'utf8');
    const parsed = parseManifest(text, ws.manifest, ws.workspace);
    const built = buildGraph(parsed.manifest);
    const first = [...parsed.diagnostics, ...built.diagnostics].find((d) => d.severity === 'error');
    if (first || !built.graph) {
      const at = first?.span ? `:${first.span.line}:${first.span.col}` : '';
      throw new ApiError(409, 'invalid-manifest', `the manifest of workspace "${ws.name}" is invalid (line${at}: ${first?.message ?? 'no graph'}); fix it and retry`);
    }
    this.#entries.set(ws.manifest, { stamp, graph: built.graph });
    return built.graph;
  }
}

/** Throws 400 `unknown-target` naming every unknown target (with a suggestion). */
export function checkTargets(graph: TaskGraph, targets: readonly string[]): void {
  const problems = selectTasks(graph, targets).diagnostics;
  if (problems.length > 0) {
    const text = problems.map((d) => `${d.message}${d.notes?.[0] ? ` (${d.notes[0]})` : ''}`).join('; ');
    throw new ApiError(400, 'unknown-target', text);
  }
}

/** Every task in manifest order with its last status (from `state`, the workspace's state.json). */
export function listTasks(graph: TaskGraph, state: WorkspaceStateData): TaskSummary[] {
  const order = [...graph.nodes.keys()];
  return order.map((name) => {
    const node = graph.nodes.get(name)!;
    const last = state.tasks[name];
    return {
      name,
      description: node.spec.description === '' ? null : node.spec.description,
      deps: [...node.deps],
      lastStatus: state.lastStatus[name] ?? 'not-run',
      key: last?.key ?? null,
      resultHash: last?.resultHash ?? null,
    };
  });
}

/** One task in detail: its spec, edges, last runs (from `runs`, newest first) and explain record. */
export async function describeTask(
  ws: ServedWorkspace,
  graph: TaskGraph,
  state: WorkspaceStateData,
  name: string,
  runs: Pick<RunManager, 'list' | 'get'>,
  env: NodeJS.ProcessEnv,
): Promise<Record<string, unknown>> {
  const node = graph.nodes.get(name);
  if (!node) throw notFound(`no task "${name}" in workspace "${ws.name}"`);
  const summary = listTasks(graph, state).find((t) => t.name === name)!;
  const deps = node.deps.map((dep) => {
    const edge = graph.edges.find((e) => e.from === name && e.to === dep && e.kind === 'declared') ?? graph.edges.find((e) => e.from === name && e.to === dep);
    return { task: dep, kind: edge?.kind ?? 'declared', via: edge?.via ?? null };
  });
  const lastRuns: Record<string, unknown>[] = [];
  // The newest runs that reached the task; at most LAST_RUNS_SCANNED runs are looked into.
  for (const info of runs.list(ws.name).slice(0, LAST_RUNS_SCANNED)) {
    let run;
    try {
      run = runs.get(info.id);
    } catch {
      continue; // pruned in between
    }
    const t = run.tasks.find((x) => x.name === name);
    if (t) lastRuns.push({ runId: run.id, status: t.status, durationMs: t.durationMs, finishedAt: run.finishedAt });
    if (lastRuns.length >= LAST_RUNS) break;
  }
  let explain: Record<string, unknown> = { action: 'run', key: null, reasons: [] };
  await planTasks({ workspace: ws.workspace, graph, selected: selectTasks(graph, [name]).selected, cacheDir: ws.cacheDir, force: false, env }, (plan) => {
    if (plan.task !== name) return;
    explain = { action: plan.action, key: plan.key ?? null, reasons: plan.reasons.map((r) => ({ ...r, text: renderReason(r) })) };
  });
  return {
    ...summary,
    cmd: node.spec.cmd.value,
    inputs: node.spec.inputs.map((i) => i.value),
    outputs: node.spec.outputs.map((o) => o.value),
    deps,
    dependents: [...node.dependents],
    cache: node.spec.cache,
    lastRuns,
    explain,
  };
}
