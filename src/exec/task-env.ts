/**
 * The environment a task's command sees. Only variables a task declares with `env = ...`
 * enter its key; so that an undeclared variable cannot silently change a cached result,
 * commands get those plus a fixed pass-through list needed to run tools at all (PATH, HOME,
 * locale, terminal, temp dir). The pass-through values are deliberately not part of the key:
 * they differ between machines that should share a cache.
 */
const PASS_THROUGH = new Set(['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TMPDIR', 'TERM', 'LANG', 'LANGUAGE', 'TZ']);

export function isPassThrough(name: string): boolean {
  return PASS_THROUGH.has(name) || name.startsWith('LC_');
}

/** The pass-through part of the environment, computed once per run (reading process.env is slow). */
export function passThroughEnvironment(base: NodeJS.ProcessEnv): Readonly<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) {
    if (value !== undefined && isPassThrough(name)) env[name] = value;
  }
  return env;
}

export function taskEnvironment(
  base: NodeJS.ProcessEnv,
  passThrough: Readonly<Record<string, string>>,
  declared: readonly string[],
  task: string,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...passThrough };
  for (const name of declared) {
    const value = base[name];
    if (value !== undefined) env[name] = value;
  }
  env.REPROVM_TASK = task;
  return env;
}

/** The standard pass-through list, for the README and `--verbose`. */
export const PASS_THROUGH_VARIABLES: readonly string[] = [...PASS_THROUGH, 'LC_*'];
