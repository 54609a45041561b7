import { COMMAND_NAMES } from './command-names.js';

/** A command line the no-op fast path can answer (see fast-noop.ts). */
export interface FastPathArgs {
  readonly manifest: string;
  readonly targets: readonly string[];
  readonly jobs?: number;
  readonly quiet: boolean;
  readonly color: boolean;
}

/**
 * Recognises the plain build command lines — `reprovm [-j N] [-k] [-q] [--no-color]
 * [--no-progress] [--no-wait] <manifest> [targets...]` and their long and attached forms — whose
 * no-op outcome an up-to-date stamp can vouch for. Anything else (another option, a
 * subcommand, `--`, a combined `-kq`) returns undefined and goes to the full CLI, which owns
 * every error message: this parser never reports one.
 */
export function fastPathArgs(args: readonly string[]): FastPathArgs | undefined {
  let jobs: number | undefined;
  let quiet = false;
  let color = true;
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-j' || a === '--jobs') {
      const v = args[++i];
      if (v === undefined || !/^[1-9]\d{0,5}$/.test(v)) return undefined;
      jobs = Number(v);
      continue;
    }
    const attached = /^(?:-j|--jobs=)([1-9]\d{0,5})$/.exec(a);
    if (attached) {
      jobs = Number(attached[1]);
      continue;
    }
    switch (a) {
      case '-q':
      case '--quiet':
        quiet = true;
        continue;
      case '--no-color':
        color = false;
        continue;
      // They change nothing about a run with nothing to do.
      case '-k':
      case '--keep-going':
      case '--no-keep-going':
      case '--no-progress':
      case '--no-wait':
        continue;
    }
    if (a.startsWith('-')) return undefined;
    positional.push(a);
  }
  const [manifest, ...targets] = positional;
  if (manifest === undefined || COMMAND_NAMES.includes(manifest)) return undefined;
  return { manifest, targets, quiet, color, ...(jobs !== undefined ? { jobs } : {}) };
}
