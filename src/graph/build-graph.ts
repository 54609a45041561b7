import picomatch from 'picomatch';
import type { Diagnostic, SourceSpan } from '../errors/diagnostic.js';
import { didYouMean, formatSpan } from '../errors/render-diagnostic.js';
import type { Manifest, TaskSpec } from '../manifest/types.js';
import { isGlob } from '../util/glob.js';
import { findCycles } from './cycles.js';
import type { GraphEdge, GraphNode, TaskGraph } from './types.js';

/*
 * Manifest → task graph. Besides declared `deps`, a task that reads another task's output
 * depends on it (an "inferred" edge): without that edge it could run before its input exists,
 * and its cache key would hash a stale or missing file. All problems are collected in one pass;
 * the graph is only returned when there is none, since later stages rely on it being acyclic.
 */

interface SpannedEdge {
  readonly edge: GraphEdge;
  /** Where the edge comes from in the manifest: the dep item, or the input item for inferred edges. */
  readonly span: SourceSpan;
}

/** Builds the graph, or reports unknown deps, conflicting outputs and cycles (pointing at the manifest). */
export function buildGraph(manifest: Manifest): { graph: TaskGraph | undefined; diagnostics: Diagnostic[] } {
  // The parser rejects duplicate names; if a hand-built manifest has them, the first one wins.
  const byName = new Map<string, TaskSpec>();
  for (const t of manifest.tasks) if (!byName.has(t.name)) byName.set(t.name, t);
  const tasks = [...byName.values()];
  const names = [...byName.keys()];
  const diagnostics: Diagnostic[] = [];
  const edges = new Map<string, SpannedEdge>(); // key `from\0to`: one edge per pair, declared first
  const add = (edge: GraphEdge, span: SourceSpan): void => {
    const key = `${edge.from}\0${edge.to}`;
    if (!edges.has(key)) edges.set(key, { edge, span });
  };

  for (const t of tasks) {
    for (const dep of t.deps) {
      if (dep.value === t.name) {
        diagnostics.push(error('cycle', dep.span, `dependency cycle: ${t.name} -> ${t.name}`, ['a task cannot depend on itself']));
      } else if (!byName.has(dep.value)) {
        const hint = didYouMean(dep.value, names.filter((n) => n !== t.name));
        diagnostics.push(error('unknown-dependency', dep.span, `task "${t.name}" depends on unknown task "${dep.value}"`, hint === undefined ? [] : [hint]));
      } else add({ from: t.name, to: dep.value, kind: 'declared' }, dep.span);
    }
  }
  diagnostics.push(...outputConflicts(tasks));
  for (const e of inferredEdges(tasks)) add(e.edge, e.span);

  const list = [...edges.values()];
  const outgoing = new Map<string, string[]>(names.map((n) => [n, []]));
  const incoming = new Map<string, string[]>(names.map((n) => [n, []]));
  for (const { edge } of list) {
    outgoing.get(edge.from)?.push(edge.to);
    incoming.get(edge.to)?.push(edge.from);
  }
  for (const cycle of findCycles(names, (n) => outgoing.get(n) ?? [])) {
    const links = cycle.slice(1).map((to, i) => edges.get(`${cycle[i] ?? ''}\0${to}`));
    const first = links[0];
    if (first === undefined) continue; // cannot happen: every step of a cycle is an edge
    const notes = links.flatMap((l) =>
      l?.edge.kind === 'inferred' ? [`"${l.edge.from}" reads "${l.edge.via ?? ''}", an output of "${l.edge.to}"`] : [],
    );
    diagnostics.push(error('cycle', first.span, `dependency cycle: ${cycle.join(' -> ')}`, notes));
  }

  diagnostics.sort((a, b) => (a.span?.line ?? 0) - (b.span?.line ?? 0) || (a.span?.col ?? 0) - (b.span?.col ?? 0));
  if (diagnostics.some((d) => d.severity === 'error')) return { graph: undefined, diagnostics };

  const nodes = new Map<string, GraphNode>();
  for (const t of tasks) {
    // Edges are unique per pair, so these lists have no duplicates.
    const deps = [...(outgoing.get(t.name) ?? [])].sort();
    const dependents = [...(incoming.get(t.name) ?? [])].sort();
    nodes.set(t.name, { spec: t, deps, dependents });
  }
  return { graph: { nodes, order: topologicalOrder(names, outgoing, incoming), edges: list.map((e) => e.edge) }, diagnostics };
}

function error(code: Diagnostic['code'], span: SourceSpan, message: string, notes: string[]): Diagnostic {
  return { severity: 'error', code, message, span, ...(notes.length > 0 ? { notes } : {}) };
}

/**
 * Two tasks may not own the same path, nor one path inside another's output directory: both
 * would write (and cache, and restore) the same files. Reported at the later declaration.
 */
function outputConflicts(tasks: readonly TaskSpec[]): Diagnostic[] {
  interface Owner { readonly task: string; readonly path: string; readonly span: SourceSpan }
  const exact = new Map<string, Owner>(); // path → first owner
  const below = new Map<string, Owner>(); // directory → first owner of a path inside it
  const out: Diagnostic[] = [];
  // Tasks are visited in manifest order, so an entry from another task is always an earlier one.
  for (const t of tasks) {
    for (const o of t.outputs) {
      const ancestors = o.value.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'));
      const here = (x: Owner | undefined): Owner | undefined => (x !== undefined && x.task !== t.name ? x : undefined);
      const same = here(exact.get(o.value));
      const outer = ancestors.map((a) => here(exact.get(a))).find((x) => x !== undefined);
      const inner = here(below.get(o.value));
      const clash = same ?? outer ?? inner;
      if (clash !== undefined) {
        const what = same !== undefined ? `is also declared by task "${clash.task}"`
          : outer !== undefined ? `is inside output "${clash.path}" of task "${clash.task}"`
          : `contains output "${clash.path}" of task "${clash.task}"`;
        const message = `output "${o.value}" of task "${t.name}" ${what}`;
        out.push(error('duplicate-output', o.span, message, [`task "${clash.task}" declares "${clash.path}" at ${formatSpan(clash.span)}`]));
      }
      const owner = { task: t.name, path: o.value, span: o.span };
      if (!exact.has(o.value)) exact.set(o.value, owner);
      for (const a of ancestors) if (!below.has(a)) below.set(a, owner);
    }
  }
  return out;
}

/**
 * B depends on A (A ≠ B) when one of B's inputs reads one of A's outputs: the same path, a path
 * inside an output directory, a directory containing the output, or a glob that matches the
 * output (or a directory containing it) or, when anchored at a directory, could match something
 * inside it. Whether an output is a file or a directory is unknown here, so the test errs towards
 * an edge, and globs match dotfiles: a spurious edge only costs ordering, a missing one costs
 * correctness.
 */
function inferredEdges(tasks: readonly TaskSpec[]): SpannedEdge[] {
  const out: SpannedEdge[] = [];
  interface Producer { readonly task: string; readonly path: string }
  const producers: Producer[] = tasks.flatMap((t) => t.outputs.map((o) => ({ task: t.name, path: o.value })));
  // Indexes keep plain-path inputs O(depth) instead of O(outputs): a 10,000-task manifest
  // would otherwise spend most of a no-op run here.
  const byPath = new Map<string, Producer[]>();
  const byAncestor = new Map<string, Producer[]>(); // directory → outputs somewhere below it
  const push = (m: Map<string, Producer[]>, k: string, p: Producer): void => {
    const list = m.get(k);
    if (list) list.push(p);
    else m.set(k, [p]);
  };
  for (const p of producers) {
    push(byPath, p.path, p);
    for (let i = p.path.indexOf('/'); i > 0; i = p.path.indexOf('/', i + 1)) push(byAncestor, p.path.slice(0, i), p);
  }
  for (const b of tasks) {
    for (const input of b.inputs) {
      let candidates: Iterable<Producer>;
      if (isGlob(input.value)) {
        const reads = inputMatcher(input.value);
        candidates = producers.filter((p) => reads(p.path));
      } else {
        const found: Producer[] = [...(byPath.get(input.value) ?? []), ...(byAncestor.get(input.value) ?? [])];
        // The input lies inside an output directory.
        for (let i = input.value.indexOf('/'); i > 0; i = input.value.indexOf('/', i + 1)) {
          found.push(...(byPath.get(input.value.slice(0, i)) ?? []));
        }
        candidates = found;
      }
      for (const p of candidates) {
        if (p.task !== b.name) out.push({ edge: { from: b.name, to: p.task, kind: 'inferred', via: input.value }, span: input.span });
      }
    }
  }
  return out;
}

function inputMatcher(input: string): (output: string) => boolean {
  const { isGlob, base } = picomatch.scan(input);
  if (!isGlob) {
    return (output) => input === output || input.startsWith(`${output}/`) || output.startsWith(`${input}/`);
  }
  const isMatch = picomatch(input, { dot: true });
  // Per-segment matchers answer "could this glob match something inside the output directory?".
  const segments = input.split('/').map((seg) => (seg === '**' ? undefined : picomatch(seg, { dot: true })));
  return (output) => {
    const parts = output.split('/');
    // The glob matches the output, or a directory containing it (which the task would read whole).
    if (parts.some((_, i) => isMatch(parts.slice(0, i + 1).join('/')))) return true;
    // Only a glob anchored at a directory (`dist/**/*.js`) is followed into outputs below that
    // directory: an unanchored `**/*.c` would otherwise depend on every task, making cycles.
    if (base === '') return false;
    if (base === output || base.startsWith(`${output}/`)) return true; // the glob reads inside the output
    if (!output.startsWith(`${base}/`)) return false;
    for (let i = 0; i < parts.length; i++) {
      if (i >= segments.length) return false;
      const seg = segments[i];
      if (seg === undefined) return true; // `**` reaches anything below
      if (!seg(parts[i] ?? '')) return false;
    }
    return segments.length > parts.length; // the glob continues inside the output directory
  };
}

/** Kahn's algorithm; among ready tasks the earliest in the manifest goes first, so order is stable. */
function topologicalOrder(
  names: readonly string[],
  outgoing: ReadonlyMap<string, readonly string[]>,
  dependents: ReadonlyMap<string, readonly string[]>,
): string[] {
  const position = new Map(names.map((n, i) => [n, i] as const));
  const waiting = new Map(names.map((n) => [n, outgoing.get(n)?.length ?? 0] as const));
  const ready = new MinHeap();
  for (const n of names) if (waiting.get(n) === 0) ready.push(position.get(n) ?? 0);
  const order: string[] = [];
  for (let at = ready.pop(); at !== undefined; at = ready.pop()) {
    const name = names[at] ?? '';
    order.push(name);
    for (const d of dependents.get(name) ?? []) {
      const left = (waiting.get(d) ?? 0) - 1;
      waiting.set(d, left);
      if (left === 0) ready.push(position.get(d) ?? 0);
    }
  }
  return order;
}

/** A binary min-heap of numbers (manifest positions). */
class MinHeap {
  readonly #a: number[] = [];
  push(x: number): void {
    const a = this.#a;
    a.push(x);
    for (let i = a.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if ((a[parent] ?? 0) <= x) break;
      a[i] = a[parent] ?? 0;
      a[parent] = x;
      i = parent;
    }
  }
  pop(): number | undefined {
    const a = this.#a;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && (a[l] ?? 0) < (a[m] ?? 0)) m = l;
      if (r < a.length && (a[r] ?? 0) < (a[m] ?? 0)) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m] ?? 0, a[i] ?? 0];
      i = m;
    }
    return top;
  }
}
