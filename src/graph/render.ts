import type { TaskGraph } from './types.js';

/** A task's state as the tree shows it. */
export type TaskStatusSymbol = 'pending' | 'running' | 'cached' | 'done' | 'failed' | 'skipped';

/** The box each status is drawn with, shared by every graph format. */
export const STATUS_BOX: Readonly<Record<TaskStatusSymbol, string>> = {
  pending: '[ ]',
  running: '[~]',
  cached: '[*]',
  done: '[✔]',
  failed: '[X]',
  skipped: '[-]',
};
const COLOR: Readonly<Record<TaskStatusSymbol, string>> = {
  pending: '',
  running: '\x1b[33m',
  cached: '\x1b[36m',
  done: '\x1b[32m',
  failed: '\x1b[31m',
  skipped: '\x1b[2m',
};
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

/**
 * The selected part of the graph as a tree per root (a selected task no selected task depends
 * on), roots and children in manifest order, children being dependencies:
 *
 * ```
 * [ ] app
 * ├── [✔] compile
 * │   └── [*] gen (inferred)
 * └── [ ] lint
 * ```
 *
 * `(inferred)` marks an edge found from outputs→inputs rather than declared. A task with
 * dependencies that was already drawn is drawn again as `name (see above)` without its subtree,
 * so shared dependencies do not blow up the output. No trailing newline.
 */
export function renderAscii(
  graph: TaskGraph,
  selected: readonly string[],
  status: (name: string) => TaskStatusSymbol,
  opts: { color: boolean },
): string {
  const chosen = new Set(selected);
  // graph.nodes is in manifest order; reuse it to sort children the same way.
  const manifestOrder = [...graph.nodes.keys()].filter((n) => chosen.has(n));
  const position = new Map(manifestOrder.map((n, i) => [n, i] as const));
  const inferred = new Set(graph.edges.filter((e) => e.kind === 'inferred').map((e) => `${e.from}\0${e.to}`));
  const childrenOf = (name: string): string[] =>
    (graph.nodes.get(name)?.deps ?? [])
      .filter((d) => chosen.has(d))
      .sort((a, b) => (position.get(a) ?? 0) - (position.get(b) ?? 0));
  const dim = (text: string): string => (opts.color ? `${DIM}${text}${RESET}` : text);
  const symbol = (name: string): string => {
    const s = status(name);
    return opts.color && COLOR[s] !== '' ? `${COLOR[s]}${STATUS_BOX[s]}${RESET}` : STATUS_BOX[s];
  };

  const lines: string[] = [];
  const drawn = new Set<string>();
  const roots = manifestOrder.filter((n) => !(graph.nodes.get(n)?.dependents ?? []).some((d) => chosen.has(d)));
  // An explicit stack instead of recursion: a long chain of tasks must not overflow the call stack.
  const stack = [...roots].reverse().map((name) => ({ name, parent: '', lead: '', indent: '' }));
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    const { name, parent, lead, indent } = frame;
    const children = childrenOf(name);
    const seen = drawn.has(name) && children.length > 0;
    const notes = (inferred.has(`${parent}\0${name}`) ? ' (inferred)' : '') + (seen ? ' (see above)' : '');
    lines.push(`${lead}${symbol(name)} ${name}${notes === '' ? '' : dim(notes)}`);
    if (seen) continue;
    drawn.add(name);
    const frames = children.map((child, i) => {
      const last = i === children.length - 1;
      return {
        name: child,
        parent: name,
        lead: `${indent}${last ? '└── ' : '├── '}`,
        indent: `${indent}${last ? '    ' : '│   '}`,
      };
    });
    stack.push(...frames.reverse()); // reversed so the first child is popped first
  }
  return lines.join('\n');
}
