/**
 * The workspaces a server serves: `[server] workspaces = NAME:MANIFEST ...` entries, or else
 * the manifests given on the command line, each named after its directory. Each has its own
 * queue and lock (the CLI's workspace lock, taken by its run children) and its cache
 * directory: the configured `cache_dir`, else `<workspace>/.reprovm`.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

export interface ServedWorkspace {
  readonly name: string;
  /** Absolute manifest path. */
  readonly manifest: string;
  /** Absolute workspace directory (the manifest's directory). */
  readonly workspace: string;
  readonly cacheDir: string;
}

/** A problem with the served workspaces: printed as-is by `serve`, exit 2. */
export class WorkspaceError extends Error {
  override readonly name = 'WorkspaceError';
}

const NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * Resolves the served workspaces. `entries` are the configured NAME:MANIFEST words (relative
 * manifests are relative to `baseDir`, the config file's directory); `manifests` come from
 * the command line (relative to `cwd`) and are used when there are no entries.
 */
export function resolveWorkspaces(opts: {
  readonly entries: readonly string[];
  readonly manifests: readonly string[];
  readonly cwd: string;
  readonly baseDir: string;
  /** Configured cache_dir ('' = per workspace). */
  readonly cacheDir: string;
}): ServedWorkspace[] {
  const pairs: { name: string; manifest: string }[] = [];
  if (opts.manifests.length > 0) {
    for (const m of opts.manifests) {
      const manifest = path.resolve(opts.cwd, m);
      pairs.push({ name: path.basename(path.dirname(manifest)) || 'default', manifest });
    }
  } else {
    for (const entry of opts.entries) {
      const cut = entry.indexOf(':');
      if (cut <= 0 || cut === entry.length - 1) throw new WorkspaceError(`reprovm: error: [server] workspaces: "${entry}" is not NAME:MANIFEST`);
      pairs.push({ name: entry.slice(0, cut), manifest: path.resolve(opts.baseDir, entry.slice(cut + 1)) });
    }
  }
  if (pairs.length === 0) {
    throw new WorkspaceError('reprovm: error: serve: no workspace to serve; give a manifest (reprovm serve manifest.txt) or set [server] workspaces = NAME:MANIFEST');
  }
  const seen = new Set<string>();
  return pairs.map(({ name, manifest }) => {
    if (!NAME.test(name)) throw new WorkspaceError(`reprovm: error: serve: workspace name "${name}" must be letters, digits, "_", "." or "-"`);
    if (seen.has(name)) throw new WorkspaceError(`reprovm: error: serve: two workspaces are named "${name}"; name them with [server] workspaces = NAME:MANIFEST`);
    seen.add(name);
    if (!existsSync(manifest) || !statSync(manifest).isFile()) throw new WorkspaceError(`reprovm: error: serve: cannot read manifest "${manifest}" of workspace "${name}"`);
    const workspace = path.dirname(manifest);
    const cacheDir = opts.cacheDir !== '' ? path.resolve(opts.baseDir, opts.cacheDir) : path.join(workspace, '.reprovm');
    return { name, manifest, workspace, cacheDir };
  });
}
