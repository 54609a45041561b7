import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Diagnostic } from '../errors/diagnostic.js';
import { renderDiagnostics } from '../errors/render-diagnostic.js';
import { buildGraph } from '../graph/build-graph.js';
import { selectTasks } from '../graph/select.js';
import type { TaskGraph } from '../graph/types.js';
import { parseManifest } from '../manifest/parse.js';
import type { Manifest } from '../manifest/types.js';
import { graphDigest, loadCachedGraph, saveCachedGraph } from '../state/graph-cache.js';

export interface LoadedManifest {
  readonly manifest: Manifest;
  readonly graph: TaskGraph;
  readonly selected: string[];
  /** Digest of everything the graph was derived from (manifest text, path, workspace, options). */
  readonly digest: string;
}

/** A usage or manifest problem: printed as-is, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    /** The manifest diagnostics behind it, if any (the audit log records path escapes). */
    readonly diagnostics: readonly Diagnostic[] = [],
  ) {
    super(message);
  }
}

/**
 * Reads, parses and validates a manifest and selects the targets. All problems of every
 * stage are collected and rendered together with file:line:col, the source line and a caret.
 */
export async function loadManifest(
  file: string,
  targets: readonly string[],
  /** `readOnly`: do not save the parsed graph to `.reprovm/graph.json` (`explain` writes nothing). */
  opts: { color: boolean; allowAbsoluteInputs: boolean; readOnly?: boolean },
): Promise<LoadedManifest> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : String(error);
    throw new UsageError(`reprovm: error: cannot read manifest "${file}": ${why}`);
  }
  const workspace = path.dirname(path.resolve(file));
  const digest = graphDigest({ text, file, workspace, allowAbsoluteInputs: opts.allowAbsoluteInputs });
  const cached = loadCachedGraph(workspace, file, digest);
  if (cached) {
    const sel = selectTasks(cached.graph, targets);
    if (sel.diagnostics.length > 0) throw new UsageError(renderDiagnostics(sel.diagnostics, new Map(), { color: opts.color }));
    return { manifest: cached.manifest, graph: cached.graph, selected: sel.selected, digest };
  }
  const parsed = parseManifest(text, file, workspace, { allowAbsoluteInputs: opts.allowAbsoluteInputs });
  const diagnostics: Diagnostic[] = [...parsed.diagnostics];
  const built = buildGraph(parsed.manifest);
  diagnostics.push(...built.diagnostics);
  let selected: string[] = [];
  if (built.graph) {
    const sel = selectTasks(built.graph, targets);
    diagnostics.push(...sel.diagnostics);
    selected = sel.selected;
  }
  // One list in source order, whichever stage found each problem; command-line ones last.
  diagnostics.sort((a, b) => (a.span?.line ?? Infinity) - (b.span?.line ?? Infinity) || (a.span?.col ?? 0) - (b.span?.col ?? 0));
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0 || !built.graph) {
    const sources = new Map([[file, text]]);
    throw new UsageError(renderDiagnostics(diagnostics, sources, { color: opts.color }), errors);
  }
  if (diagnostics.length > 0) {
    process.stderr.write(`${renderDiagnostics(diagnostics, new Map([[file, text]]), { color: opts.color })}\n`);
  } else if (opts.readOnly !== true) {
    await saveCachedGraph(workspace, digest, parsed.manifest, built.graph).catch(() => undefined);
  }
  return { manifest: parsed.manifest, graph: built.graph, selected, digest };
}
