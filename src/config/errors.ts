/**
 * The typed error of configuration loading. One instance carries every problem found in one pass
 * (all bad values of the file and the environment), each a complete one-line message that names
 * where the value came from (`file:line` or the environment variable) and what is allowed.
 * `message` is one line (the first problem, and how many more) for callers that print one line;
 * `problems` has them all.
 */
export class ConfigError extends Error {
  /** Every problem, one line each, in file order then environment order. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more: see reprovm config check)` : '';
    super(`${problems[0] ?? 'invalid configuration'}${more}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
