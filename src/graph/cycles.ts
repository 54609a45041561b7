/*
 * Cycle detection that returns the cycle itself (a -> b -> c -> a), because "there is a cycle"
 * alone is useless to someone editing a manifest. Tarjan's algorithm finds the strongly connected
 * components; each component with a cycle yields one path, so a tangle is reported once rather
 * than once per rotation or per elementary cycle. Iterative, so deep chains cannot overflow the stack.
 */

/**
 * One cycle per strongly connected component that has one, as `[a, b, c, a]` where each name
 * depends on the next. A cycle starts at its member that comes first in `names`, follows the
 * shortest way back, and cycles are returned in that same order. Names outside `names` are ignored.
 */
export function findCycles(names: readonly string[], depsOf: (name: string) => readonly string[]): string[][] {
  const position = new Map(names.map((n, i) => [n, i] as const));
  const known = (n: string): boolean => position.has(n);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let counter = 0;

  const lowOf = (n: string): number => low.get(n) ?? 0;
  for (const root of names) {
    if (index.has(root)) continue;
    const work: { v: string; deps: readonly string[]; i: number }[] = [];
    const visit = (v: string): void => {
      index.set(v, counter);
      low.set(v, counter);
      counter++;
      stack.push(v);
      onStack.add(v);
      work.push({ v, deps: depsOf(v).filter(known), i: 0 });
    };
    visit(root);
    while (work.length > 0) {
      const top = work[work.length - 1];
      if (top === undefined) break;
      const w = top.deps[top.i];
      if (w !== undefined) {
        top.i++;
        if (!index.has(w)) visit(w);
        else if (onStack.has(w)) low.set(top.v, Math.min(lowOf(top.v), index.get(w) ?? 0));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low.set(parent.v, Math.min(lowOf(parent.v), lowOf(top.v)));
      if (lowOf(top.v) !== index.get(top.v)) continue;
      const component: string[] = [];
      let member: string | undefined;
      do {
        member = stack.pop();
        if (member === undefined) break;
        onStack.delete(member);
        component.push(member);
      } while (member !== top.v);
      components.push(component);
    }
  }

  const cycles: string[][] = [];
  for (const component of components) {
    const start = component.reduce((a, b) => ((position.get(a) ?? 0) <= (position.get(b) ?? 0) ? a : b));
    const cycle = shortestCycleThrough(start, new Set(component), depsOf);
    if (cycle !== undefined) cycles.push(cycle);
  }
  return cycles.sort((a, b) => (position.get(a[0] ?? '') ?? 0) - (position.get(b[0] ?? '') ?? 0));
}

/** The first cycle (see {@link findCycles}), or undefined when the graph is acyclic. */
export function findCycle(names: readonly string[], depsOf: (name: string) => readonly string[]): string[] | undefined {
  return findCycles(names, depsOf)[0];
}

/** Breadth-first search inside one component, so the reported path is as short as possible. */
function shortestCycleThrough(
  start: string,
  members: ReadonlySet<string>,
  depsOf: (name: string) => readonly string[],
): string[] | undefined {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const u = queue[head] ?? start;
    for (const w of depsOf(u)) {
      if (w === start) {
        const path = [start];
        for (let x: string | undefined = u; x !== undefined && x !== start; x = parent.get(x)) path.splice(1, 0, x);
        return [...path, start];
      }
      if (!members.has(w) || parent.has(w)) continue;
      parent.set(w, u);
      queue.push(w);
    }
  }
  return undefined; // a single-member component without a self-loop
}
