/**
 * The original tool's maintenance flags on the default command: `--health-check`,
 * `--clean-cache`, `--verify-cache` and `--stats` do that one job and exit, exactly as
 * `reprovm health`, `cache clean`, `cache verify` and `cache stats` do. They are rewritten into
 * those subcommands before commander parses, so they work with or without a manifest
 * (`reprovm --stats`, `reprovm --stats manifest.txt`). With a manifest and no `--cache-dir`,
 * the cache is the manifest's workspace cache (`<workspace>/.reprovm`).
 */
import { statSync } from 'node:fs';
import path from 'node:path';

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
export function rewriteLegacyOpsFlags(argv: readonly string[], cwd: string): string[] {
  const args = argv.slice(2);
  const end = args.indexOf('--');
  const head = end < 0 ? args : args.slice(0, end);
  const flag = head.find((a) => LEGACY[a] !== undefined);
  if (flag === undefined) return [...argv];
  const out: string[] = [...argv.slice(0, 2), ...LEGACY[flag]!];
  let cacheDir = false;
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
    if (!takesValue) out.push(name);
    else if (inline !== undefined) out.push(name, inline);
    else if (i + 1 < head.length) out.push(name, head[++i]!);
  }
  if (!cacheDir && manifest !== undefined) out.push('--cache-dir', path.join(path.dirname(path.resolve(cwd, manifest)), '.reprovm'));
  return out;
}
