import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from './errors.js';

/** The system-wide configuration file, unless `REPROVM_SYSTEM_CONFIG` names another (for packaging and tests). */
export const SYSTEM_CONFIG_FILE = '/etc/reprovm/reprovm.conf';

/** Options of the lookup: see {@link findConfigFile}. */
export interface FindConfigOptions {
  readonly explicitFile?: string;
  readonly env: NodeJS.ProcessEnv;
  readonly workspace?: string;
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The configuration file to read, first that exists wins: `--config FILE` and `REPROVM_CONFIG`
 * (an error when missing: the user asked for that file), `<workspace>/reprovm.conf`,
 * `<workspace>/.reprovm/reprovm.conf`, then the system file. `undefined` when there is none.
 * Relative `--config`/`REPROVM_CONFIG` paths are relative to the current directory; without a
 * workspace only those and the system file are looked at.
 */
export function findConfigFile(opts: FindConfigOptions): string | undefined {
  const asked: [string | undefined, string][] = [
    [opts.explicitFile, '--config'],
    [opts.env.REPROVM_CONFIG === '' ? undefined : opts.env.REPROVM_CONFIG, 'REPROVM_CONFIG'],
  ];
  for (const [file, from] of asked) {
    if (file === undefined) continue;
    const resolved = path.resolve(file);
    if (!isFile(resolved)) {
      const what = existsSync(resolved) ? 'is not a file' : 'does not exist';
      throw new ConfigError([`${from}: configuration file ${resolved} ${what}; fix the path or remove the setting`]);
    }
    return resolved;
  }
  const candidates: string[] = [];
  if (opts.workspace !== undefined) {
    candidates.push(path.join(opts.workspace, 'reprovm.conf'), path.join(opts.workspace, '.reprovm', 'reprovm.conf'));
  }
  const system = opts.env.REPROVM_SYSTEM_CONFIG;
  candidates.push(system !== undefined && system !== '' ? path.resolve(system) : SYSTEM_CONFIG_FILE);
  return candidates.find(isFile);
}
