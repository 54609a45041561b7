/** A position in a source file. Lines and columns are 1-based; `length` is the caret width. */
export interface SourceSpan {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly length: number;
}

/** A value read from a manifest, with where it came from. */
export interface Spanned<T> {
  readonly value: T;
  readonly span: SourceSpan;
}

export type DiagnosticCode =
  | 'manifest-syntax'
  | 'unknown-key'
  | 'duplicate-key'
  | 'duplicate-task'
  | 'invalid-task-name'
  | 'invalid-value'
  | 'path-escape'
  | 'unknown-dependency'
  | 'cycle'
  | 'duplicate-output'
  | 'unknown-target';

export interface Diagnostic {
  readonly severity: 'error' | 'warning';
  readonly code: DiagnosticCode;
  readonly message: string;
  /** Absent only for problems with no place in a file (e.g. an unknown target on the command line). */
  readonly span?: SourceSpan;
  /** Extra lines printed after the caret, e.g. `did you mean "build"?` or a cycle path. */
  readonly notes?: readonly string[];
}
