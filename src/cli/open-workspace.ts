import path from 'node:path';
import type { TaskGraph } from '../graph/types.js';
import type { Manifest } from '../manifest/types.js';
import { makeStyle, type Style } from '../report/style.js';
import { loadManifest, type LoadedManifest } from './load-manifest.js';

/** What every manifest command starts from: colour, the loaded graph, the workspace and its cache. */
export interface OpenedWorkspace {
  readonly color: boolean;
  readonly style: Style;
  readonly manifest: Manifest;
  readonly graph: TaskGraph;
  readonly selected: string[];
  readonly workspace: string;
  readonly cacheDir: string;
  /** See {@link LoadedManifest.digest}. */
  readonly digest: string;
}

/**
 * Loads a manifest for a command: colour only on a terminal and without NO_COLOR; the cache
 * directory from `--cache-dir` or `<workspace>/.reprovm`. `readOnly` commands do not write the
 * graph cache.
 */
export async function openWorkspace(
  manifestFile: string,
  targets: readonly string[],
  opts: { color: boolean; allowAbsoluteInputs?: boolean; cacheDir?: string; readOnly?: boolean },
  io: { env: NodeJS.ProcessEnv; stdout: NodeJS.WriteStream },
): Promise<OpenedWorkspace> {
  const color = opts.color && !io.env.NO_COLOR && io.stdout.isTTY === true;
  const { manifest, graph, selected, digest } = await loadManifest(manifestFile, targets, {
    color,
    allowAbsoluteInputs: opts.allowAbsoluteInputs === true,
    ...(opts.readOnly ? { readOnly: true } : {}),
  });
  const workspace = manifest.workspace;
  const cacheDir = opts.cacheDir ? path.resolve(opts.cacheDir) : path.join(workspace, '.reprovm');
  return { color, style: makeStyle(color), manifest, graph, selected, workspace, cacheDir, digest };
}
