/**
 * Every subcommand of the CLI (a test keeps this list equal to `reprovm --help`), and the
 * operations commands among them, whose modules main.ts loads only when the command line may
 * name one.
 */
export const OPS_COMMAND_NAMES = ['cache', 'health', 'backup', 'audit', 'notify', 'serve'] as const;

export const COMMAND_NAMES: readonly string[] = ['run', 'config', 'explain', 'verify-repro', 'graph', ...OPS_COMMAND_NAMES, 'help'];
