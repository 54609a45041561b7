import type { SourceSpan, Spanned } from '../errors/diagnostic.js';

/** One `task NAME { ... }` block after parsing. Every value keeps its source span. */
export interface TaskSpec {
  readonly name: string;
  readonly nameSpan: SourceSpan;
  /** Shell command (`/bin/sh -c`). Empty string when missing or empty. */
  readonly cmd: Spanned<string>;
  /** Workspace-relative POSIX paths, directories or globs, in declared order (normalised: no `./`, no trailing `/`). */
  readonly inputs: readonly Spanned<string>[];
  /** Workspace-relative POSIX paths of files or directories the task produces. */
  readonly outputs: readonly Spanned<string>[];
  /** Names of tasks this task depends on explicitly. */
  readonly deps: readonly Spanned<string>[];
  /** Environment variable names whose values enter the key and are passed to the command. */
  readonly env: readonly Spanned<string>[];
  /** Milliseconds; undefined = no timeout (a CLI/config default may apply). */
  readonly timeoutMs: number | undefined;
  /** Extra attempts after a failure (0 = run once); undefined = not set (the configured default applies). */
  readonly retries: number | undefined;
  /** `cache = false`: always run, never store. */
  readonly cache: boolean;
  readonly description: string;
}

export interface Manifest {
  /** The manifest path as the user wrote it (used in diagnostics). */
  readonly file: string;
  /** Absolute directory of the manifest: the workspace. Commands run here; paths are relative to it. */
  readonly workspace: string;
  readonly tasks: readonly TaskSpec[];
}

export interface ParseOptions {
  /** Allow absolute input paths (never outputs). Off by default. */
  readonly allowAbsoluteInputs?: boolean;
}
