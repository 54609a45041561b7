import path from 'node:path';
import { renderAscii } from '../../graph/render.js';
import { renderDot } from '../../graph/render-dot.js';
import { renderJson } from '../../graph/render-json.js';
import { renderMermaid } from '../../graph/render-mermaid.js';
import { graphView, statusSymbol } from '../../graph/view.js';
import { loadWorkspaceState } from '../../state/workspace-state.js';
import { loadCliConfig, type ConfigFlags } from '../cli-config.js';
import { loadManifest } from '../load-manifest.js';
import type { CliIo } from './run.js';

/** The formats of `reprovm graph --format`. */
export const GRAPH_FORMATS = ['ascii', 'dot', 'mermaid', 'json'] as const;
/** One of {@link GRAPH_FORMATS}. */
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/** Options of `reprovm graph` as commander parses them. */
export interface GraphOptions extends ConfigFlags {
  format: GraphFormat;
  color: boolean;
  allowAbsoluteInputs?: boolean;
}

/**
 * `reprovm graph <manifest> [targets...]`: prints the selected tasks and their edges (inferred
 * ones marked) with the status of the last run in the workspace, as an ASCII tree (the same as
 * `--graph`), Graphviz DOT, a mermaid flowchart or versioned JSON. Returns the exit code.
 * The workspace's configuration is loaded like every command's (`--config`): a bad one is an
 * error (exit 2), its warnings are printed.
 */
export async function graphCommandLine(manifestFile: string, targets: string[], opts: GraphOptions, io: CliIo): Promise<number> {
  loadCliConfig(opts, io, path.dirname(path.resolve(manifestFile))).logger.close();
  const color = opts.format === 'ascii' && opts.color && !io.env.NO_COLOR && io.stdout.isTTY === true;
  const { manifest, graph, selected } = await loadManifest(manifestFile, targets, { color, allowAbsoluteInputs: opts.allowAbsoluteInputs === true });
  const state = loadWorkspaceState(manifest.workspace);
  const last = (name: string) => state.lastStatus[name];
  let text: string;
  switch (opts.format) {
    case 'ascii':
      text = `${renderAscii(graph, selected, (n) => statusSymbol(last(n)), { color })}\n`;
      break;
    case 'dot':
      text = renderDot(graphView(graph, selected, last));
      break;
    case 'mermaid':
      text = renderMermaid(graphView(graph, selected, last));
      break;
    case 'json':
      text = renderJson(graphView(graph, selected, last), { workspace: manifest.workspace, manifest: path.resolve(manifestFile), targets });
      break;
  }
  io.stdout.write(text);
  return 0;
}
