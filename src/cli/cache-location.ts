import path from 'node:path';
import type { LoadedConfig } from '../config/load.js';

/**
 * The cache directory of the commands that work on a cache without a run (`cache`, `audit`,
 * `backup`, `health`): `--cache-dir`, else the configured `cache_dir` (already absolute when it
 * came from a file; relative to `cwd` when it came from the environment), else `./.reprovm`.
 */
export function resolveOpsCacheDir(flag: string | undefined, loaded: LoadedConfig, cwd: string): string {
  if (flag !== undefined && flag !== '') return path.resolve(cwd, flag);
  const configured = loaded.config.cache.cache_dir;
  if (configured !== '') return path.resolve(cwd, configured);
  return path.resolve(cwd, '.reprovm');
}
