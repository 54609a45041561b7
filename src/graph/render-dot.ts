import { STATUS_BOX } from './render.js';
import { statusSymbol, type GraphView, type NodeStatus } from './view.js';

const FILL: Readonly<Record<NodeStatus, string>> = {
  'not-run': 'white',
  executed: '#c8e6c9',
  cached: '#b3e5fc',
  failed: '#ffcdd2',
  skipped: '#eeeeee',
};

/** A DOT double-quoted string: backslashes, quotes and line breaks escaped. */
function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}

/**
 * Graphviz DOT (`dot -Tsvg`): one box per task labelled with its status box and filled by
 * status; edges point from a task to what it depends on, inferred ones dashed and labelled
 * `inferred` (their tooltip names the input that matched). Ends with a newline.
 */
export function renderDot(view: GraphView): string {
  const lines = [
    'digraph reprovm {',
    '  // edges: task -> dependency; dashed = inferred (the task reads the dependency\'s output)',
    '  node [shape=box, style="rounded,filled", fillcolor="white", fontname="Helvetica"];',
  ];
  for (const n of view.nodes) {
    const fill = n.status === 'not-run' ? '' : `, fillcolor=${quote(FILL[n.status])}`;
    lines.push(`  ${quote(n.name)} [label=${quote(`${STATUS_BOX[statusSymbol(n.status)]} ${n.name}`)}${fill}];`);
  }
  for (const e of view.edges) {
    const attrs = e.kind === 'inferred' ? ` [style=dashed, label="inferred"${e.via === undefined ? '' : `, tooltip=${quote(`reads ${e.via}`)}`}]` : '';
    lines.push(`  ${quote(e.from)} -> ${quote(e.to)}${attrs};`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
