/**
 * The typed error of configuration loading. One instance carries every problem found in one pass
 * (all bad values of the file and the environment), each a complete one-line message that names
 * where the value came from (`file:line` or the environment variable) and what is allowed.
 */
export class ConfigError extends Error {
  /** Every problem, one line each, in file order then environment order. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
