import { STATUS_BOX } from './render.js';
import { statusSymbol, type GraphView, type LastRunStatus } from './view.js';

const CLASS_DEFS: Readonly<Record<LastRunStatus, string>> = {
  executed: 'fill:#c8e6c9,stroke:#2e7d32',
  cached: 'fill:#b3e5fc,stroke:#0277bd',
  failed: 'fill:#ffcdd2,stroke:#c62828',
  skipped: 'fill:#eeeeee,stroke:#9e9e9e,color:#757575',
};

/** Text inside a mermaid `"..."` label: quotes become the `#quot;` entity. */
function label(s: string): string {
  return `"${s.replace(/"/g, '#quot;')}"`;
}

/**
 * A mermaid flowchart (GitHub and GitLab render it in Markdown). Task names may contain `.`,
 * `:` and `-`, which mermaid ids may not, so nodes get ids `t0`, `t1`, … in manifest order and
 * the name goes in the label. Edges point from a task to what it depends on; inferred ones are
 * dotted (`-.->`) and labelled `inferred`. Each status that occurs gets a class. Ends with a
 * newline.
 */
export function renderMermaid(view: GraphView): string {
  const id = new Map(view.nodes.map((n, i) => [n.name, `t${i}`] as const));
  const lines = ['flowchart TD', '  %% edges: task --> dependency; dotted = inferred (the task reads the dependency\'s output)'];
  for (const n of view.nodes) lines.push(`  ${id.get(n.name) ?? ''}[${label(`${STATUS_BOX[statusSymbol(n.status)]} ${n.name}`)}]`);
  for (const e of view.edges) {
    const arrow = e.kind === 'inferred' ? '-.->|inferred|' : '-->';
    lines.push(`  ${id.get(e.from) ?? ''} ${arrow} ${id.get(e.to) ?? ''}`);
  }
  for (const status of Object.keys(CLASS_DEFS) as LastRunStatus[]) {
    const members = view.nodes.filter((n) => n.status === status).map((n) => id.get(n.name) ?? '');
    if (members.length === 0) continue;
    lines.push(`  classDef ${status} ${CLASS_DEFS[status]}`, `  class ${members.join(',')} ${status}`);
  }
  return `${lines.join('\n')}\n`;
}
