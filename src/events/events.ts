/**
 * The run event stream. The scheduler and the cache emit these; everything a person or a
 * program sees of a run (progress bar, CI lines, NDJSON, summary) is a reporter that
 * subscribes to them. Field names are part of the `--json` contract: add, never rename.
 */

/** Why a cache lookup did not restore the task. */
export type MissReason =
  | 'no-record' // nothing cached for this key
  | 'forced' // --force
  | 'cache-disabled' // cache = false in the manifest
  | 'corrupt' // a record or blob failed verification (it was quarantined)
  | 'error' // the cache could not be read (I/O error); treated as a miss with a warning
  | 'signature' // a remote record was unsigned or badly signed while a signing key is configured
  | 'remote-error'; // local miss, and the remote could not be asked (down, auth, breaker open)

/** Kinds of remote-cache trouble, each reported by at most one `warning` per run. */
export type RemoteWarningKind = 'auth' | 'unavailable' | 'breaker' | 'no-bucket' | 'integrity' | 'signature' | 'error';

/** A run's traffic with the remote cache (in `run-finished`'s summary when a remote is used). */
export interface RemoteSummary {
  readonly hits: number;
  readonly misses: number;
  readonly bytesDownloaded: number;
  readonly bytesUploaded: number;
  readonly recordsUploaded: number;
  readonly blobsUploaded: number;
}

export type CacheLookup =
  | {
      readonly result: 'hit';
      /** `remote`: the record and blobs came from the remote cache (verified, then imported). */
      readonly source: 'local' | 'remote';
      /** True when the outputs in the workspace already matched and nothing was restored. */
      readonly upToDate: boolean;
      readonly bytesRestored: number;
      readonly filesRestored: number;
      /** Duration of the original execution: what the hit saved. */
      readonly savedMs: number;
      /** Remote hits: bytes received from the remote (record and blobs not already local). */
      readonly bytesDownloaded?: number;
    }
  | { readonly result: 'miss'; readonly reason: MissReason; readonly detail?: string };

export type TaskStatus = 'executed' | 'cached' | 'failed' | 'skipped';

/** Why a task failed; doubles as the `code` in JSON output. */
export type TaskFailureReason =
  | 'exit-non-zero'
  | 'signal'
  | 'timeout'
  | 'spawn-error'
  | 'input-missing'
  | 'output-missing'
  | 'output-invalid'
  | 'cache-write'
  | 'interrupted'
  | 'hermeticity'; // run --strict=error: the task wrote or deleted undeclared paths, or modifies its input

/** A `run --strict` finding, carried by its `warning` event. */
export interface HermeticityFinding {
  readonly kind: 'undeclared-write' | 'undeclared-delete' | 'output-is-input';
  /** Workspace-relative path that was written, deleted, or is both output and input. */
  readonly path: string;
}

export interface TaskFailure {
  readonly reason: TaskFailureReason;
  readonly message: string;
  readonly exitCode?: number;
  readonly signal?: string;
}

/** One output of a finished task: a file (with its SHA-256), a directory or a symlink. */
export interface TaskOutputRef {
  /** Workspace-relative, POSIX separators. */
  readonly path: string;
  readonly kind: 'file' | 'dir' | 'symlink';
  /** SHA-256 of the content; files only. */
  readonly digest?: string;
}

export interface RunSummary {
  readonly total: number;
  readonly executed: number;
  readonly cached: number;
  /** Of `cached`: hits whose outputs were already in place, so nothing was restored. */
  readonly upToDate: number;
  readonly failed: number;
  readonly skipped: number;
  readonly wallMs: number;
  readonly savedMs: number;
  readonly interrupted: boolean;
  /** With a remote cache: its hits and traffic in this run. */
  readonly remote?: RemoteSummary;
}

export type RunEvent =
  | { readonly type: 'run-started'; readonly time: string; readonly runId: string; readonly workspace: string; readonly tasks: readonly string[]; readonly jobs: number; readonly dryRun: boolean }
  | {
      readonly type: 'task-started';
      readonly time: string;
      readonly task: string;
      readonly key: string;
      readonly attempt: number;
      readonly reason?: MissReason;
      /** With `run --explain`: why it runs in one line, e.g. `input hello.c changed, +1 more`. */
      readonly explain?: string;
    }
  | { readonly type: 'task-output'; readonly time: string; readonly task: string; readonly stream: 'stdout' | 'stderr'; readonly line: string; readonly replay: boolean }
  | { readonly type: 'task-retry'; readonly time: string; readonly task: string; readonly attempt: number; readonly delayMs: number; readonly failure: TaskFailure }
  | {
      readonly type: 'task-finished';
      readonly time: string;
      readonly task: string;
      readonly status: TaskStatus;
      readonly key?: string;
      readonly resultHash?: string;
      readonly cache?: CacheLookup;
      readonly durationMs: number;
      readonly failure?: TaskFailure;
      /** For skipped tasks: the failed dependency that caused the skip. */
      readonly skippedBecause?: string;
      /**
       * For executed and cached tasks: every output entry as it is now in the workspace (a
       * declared directory and everything below it, in order), with the content digest of files.
       */
      readonly outputs?: readonly TaskOutputRef[];
    }
  /** Dry run (-n): what a real run would do with this task, and why. */
  | {
      readonly type: 'task-planned';
      readonly time: string;
      readonly task: string;
      readonly action: 'run' | 'restore' | 'up-to-date';
      readonly key?: string;
      readonly reason: string;
      /** The explain reasons in detail (`input a.c changed (digest …)`); may repeat `reason`. */
      readonly reasons?: readonly string[];
    }
  | {
      readonly type: 'warning';
      readonly time: string;
      readonly message: string;
      readonly task?: string;
      /** With `run --strict`: what the task did to which path. */
      readonly hermeticity?: HermeticityFinding;
      /** Remote-cache trouble (`auth` → audit `remote.auth-failure`, `signature` → `remote.signature-rejected`). */
      readonly remote?: { readonly kind: RemoteWarningKind };
    }
  /** Data moved to (`upload`, audit `remote.push`) or from (`download`, audit `remote.pull`) the remote cache for one task. */
  | {
      readonly type: 'remote-transfer';
      readonly time: string;
      readonly direction: 'upload' | 'download';
      readonly task: string;
      readonly key: string;
      /** Blobs actually moved (blobs already present on the other side are skipped). */
      readonly blobs: number;
      readonly bytes: number;
      readonly durationMs: number;
    }
  | { readonly type: 'run-finished'; readonly time: string; readonly runId: string; readonly exitCode: number; readonly summary: RunSummary };

export type RunEventType = RunEvent['type'];

/** Current time in the events' format. */
export function eventTime(): string {
  return new Date().toISOString();
}
