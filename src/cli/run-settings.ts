import path from 'node:path';
import type { CodecName } from '../cas/codec.js';
import type { DirectIo } from '../cas/object-store.js';
import type { Config } from '../config/schema.js';
import type { FsyncMode } from '../exec/build.js';
import type { StrictMode } from '../exec/hermeticity.js';

/** The run flags that have a configuration key; undefined = not given on the command line. */
export interface RunFlags {
  readonly jobs?: number;
  readonly rate?: number;
  readonly burst?: number;
  /** Milliseconds. */
  readonly timeout?: number;
  /** Milliseconds. */
  readonly killGrace?: number;
  readonly keepGoing?: boolean;
  readonly strict?: StrictMode | 'off';
  readonly fsync?: FsyncMode;
  readonly cacheDir?: string;
  readonly compress?: CodecName;
  readonly compressLevel?: number;
}

/** Everything a run takes from flags and configuration, with every default resolved. */
export interface RunSettings {
  readonly jobs: number;
  /** Task starts per second; `Infinity` = no limit. */
  readonly rate: number;
  readonly burst: number;
  readonly timeoutMs: number | undefined;
  readonly killGraceMs: number;
  readonly keepGoing: boolean;
  readonly strict: StrictMode | undefined;
  readonly fsync: FsyncMode;
  readonly cacheDir: string;
  readonly compression: { readonly codec: CodecName; readonly level: number };
  /** Blobs up to this size go inside the action record (`[cache] inline_max_bytes`). */
  readonly inlineMaxBytes: number;
  /** Which large new files bypass the page cache (`[cache] direct_io`). */
  readonly directIo: DirectIo;
  /** Retries of tasks whose manifest entry sets none. */
  readonly defaultRetries: number;
}

/**
 * The one place where a run's defaults are decided: a flag wins, then the configuration (which
 * already holds env > file > schema default). Automatic values resolve here: `parallel_jobs = 0`
 * is the number of CPUs, `burst = 0` is the job count, `rate = 0` and `timeout_seconds = 0` mean
 * no limit. A relative `--cache-dir` or `REPROVM_CACHE_DIR` is relative to `cwd` (one from a
 * config file was already made absolute against the file's directory).
 */
export function resolveRunSettings(flags: RunFlags, config: Config, ctx: { cpus: number; cwd: string; workspace: string }): RunSettings {
  const ex = config.execution;
  const jobs = flags.jobs ?? (ex.parallel_jobs > 0 ? ex.parallel_jobs : ctx.cpus);
  const configuredRate = ex.rate === 0 ? Infinity : ex.rate;
  const strict = flags.strict ?? ex.strict;
  const codec = flags.compress ?? config.cache.compression;
  const configuredDir = flags.cacheDir ?? (config.cache.cache_dir !== '' ? config.cache.cache_dir : undefined);
  return {
    jobs,
    rate: flags.rate ?? configuredRate,
    burst: flags.burst ?? (ex.burst > 0 ? ex.burst : Math.max(1, jobs)),
    timeoutMs: flags.timeout ?? (ex.timeout_seconds > 0 ? Math.round(ex.timeout_seconds * 1000) : undefined),
    killGraceMs: flags.killGrace ?? Math.round(ex.kill_grace_seconds * 1000),
    keepGoing: flags.keepGoing ?? ex.keep_going,
    strict: strict === 'off' ? undefined : strict,
    fsync: flags.fsync ?? ex.fsync,
    cacheDir: configuredDir !== undefined ? path.resolve(ctx.cwd, configuredDir) : path.join(ctx.workspace, '.reprovm'),
    compression: { codec, level: flags.compressLevel ?? (codec === 'zstd' ? config.cache.level : 0) },
    inlineMaxBytes: config.cache.inline_max_bytes,
    directIo: config.cache.direct_io,
    defaultRetries: ex.retry_attempts,
  };
}
