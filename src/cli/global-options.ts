/**
 * Options given before a subcommand apply to it: `reprovm --config FILE cache stats` works like
 * `reprovm cache stats --config FILE`. Commander's own `optsWithGlobals()` is not used because
 * its ancestors' values win even when they are only defaults, so the program's defaults
 * silently replaced what the user gave the subcommand (`reprovm run --output-mode grouped`).
 */
import type { Command } from 'commander';

/** Where a value counts as given by the user (not a default). */
const given = (source: string | undefined): boolean => source === 'cli' || source === 'env';

/**
 * Copies into `cmd` every option an ancestor was given explicitly and `cmd` also has but was not
 * given itself (the nearest ancestor first). Precedence: the subcommand's own flag, then the
 * program's, then the subcommand's default. Meant as a `preAction` hook on the program.
 */
export function inheritGlobalOptions(cmd: Command): void {
  const own = new Set(cmd.options.map((o) => o.attributeName()));
  for (let ancestor = cmd.parent; ancestor; ancestor = ancestor.parent) {
    for (const [key, value] of Object.entries(ancestor.opts())) {
      const source = ancestor.getOptionValueSource(key);
      if (!own.has(key) || !given(source) || given(cmd.getOptionValueSource(key))) continue;
      cmd.setOptionValueWithSource(key, value, source);
    }
  }
}
