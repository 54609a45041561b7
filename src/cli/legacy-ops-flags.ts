/**
 * The original tool's maintenance flags on the default command: `--health-check`,
 * `--clean-cache`, `--verify-cache` and `--stats` do that one job and exit, exactly as
 * `reprovm health`, `cache clean`, `cache verify` and `cache stats` do. They are rewritten into
 * those subcommands before commander parses, so they work with or without a manifest
 * (`reprovm --stats`, `reprovm --stats manifest.txt`). With a manifest and no `--cache-dir`,
 * the cache is the one a run of that manifest uses: the workspace configuration is loaded (its
 * `[cache] cache_dir`, `REPROVM_CACHE_DIR`), else `<workspace>/.reprovm`; the workspace's config
 * file is passed on as `--config` so the subcommand works with the same settings.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/load.js';

const LEGACY: Readonly<Record<string, readonly string[]>> = {
  '--health-check': ['health'],
  '--clean-cache': ['cache', 'clean'],
  '--verify-cache': ['cache', 'verify'],
  '--stats': ['cache', 'stats'],
};

/** Options passed through to the subcommand, with whether they take a value. */
const PASSED: Readonly<Record<string, boolean>> = { '--cache-dir': true, '--config': true, '--json': false };

const isFile = (p: string): boolean => statSync(p, { throwIfNoEntry: false })?.isFile() === true;

/** `argv` (node, script, ...args) with a legacy flag turned into its subcommand; unchanged otherwise. */
export function rewriteLegacyOpsFlags(argv: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): string[] {
  const args = argv.slice(2);
  const end = args.indexOf('--');
  const head = end < 0 ? args : args.slice(0, end);
  const flag = head.find((a) => LEGACY[a] !== undefined);
  if (flag === undefined) return [...argv];
  const out: string[] = [...argv.slice(0, 2), ...LEGACY[flag]!];
  let cacheDir = false;
  let configFlag: string | undefined;
  let manifest: string | undefined;
  for (let i = 0; i < head.length; i++) {
    const a = head[i]!;
    const [name, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const takesValue = PASSED[name];
    if (takesValue === undefined) {
      if (!a.startsWith('-') && manifest === undefined && isFile(path.resolve(cwd, a))) manifest = a;
      continue;
    }
    if (name === '--cache-dir') cacheDir = true;
    if (name === '--config') configFlag = inline ?? head[i + 1];
    if (!takesValue) out.push(name);
    else if (inline !== undefined) out.push(name, inline);
    else if (i + 1 < head.length) out.push(name, head[++i]!);
  }
  if (!cacheDir && manifest !== undefined) out.push(...workspaceCache(path.dirname(path.resolve(cwd, manifest)), configFlag, cwd, env));
  // health also checks the run lock, which lives in the workspace, not necessarily in the cache dir.
  if (flag === '--health-check' && manifest !== undefined) out.push('--workspace', path.dirname(path.resolve(cwd, manifest)));
  return out;
}

/** `--cache-dir` (and `--config`) as a run in `workspace` would resolve them (see the note above). */
function workspaceCache(workspace: string, configFlag: string | undefined, cwd: string, env: NodeJS.ProcessEnv): string[] {
  try {
    const loaded = loadConfig({ ...(configFlag !== undefined ? { explicitFile: path.resolve(cwd, configFlag) } : {}), env, workspace });
    const configured = loaded.config.cache.cache_dir;
    // As in runs: a cache_dir from a file is already absolute, one from REPROVM_CACHE_DIR is relative to cwd.
    const dir = configured !== '' ? path.resolve(cwd, configured) : path.join(workspace, '.reprovm');
    return [...(configFlag === undefined && loaded.file !== undefined ? ['--config', loaded.file] : []), '--cache-dir', dir];
  } catch {
    // A bad configuration is reported by a run of the manifest; here the workspace default stands.
    return ['--cache-dir', path.join(workspace, '.reprovm')];
  }
}
