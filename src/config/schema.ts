/**
 * The configuration schema: every section and key reprovm reads from `reprovm.conf`, with its
 * type, default and meaning. This table is the single source: the loader validates against it,
 * `config show` walks it, the env override names (`REPROVM_<SECTION>_<KEY>`) come from it, and a
 * test checks that `reprovm.conf.example` documents exactly these keys.
 *
 * Two kinds of sections:
 * - fixed sections (`[execution]`, `[cache]`, ...) with the keys of {@link CONFIG_SCHEMA};
 * - named sections (`[schedule.NAME]`, `[token.NAME]`), any number of each, with the keys of
 *   {@link NAMED_SECTION_SCHEMA}.
 *
 * Values that depend on the machine or the workspace use an "automatic" default (`0` or the
 * empty string) and say so in `doc`; the code that consumes them resolves it.
 */
import { DEFAULT_INLINE_BYTES, INLINE_MAX } from '../cas/action-cache.js';

export type KeyType =
  | { readonly kind: 'int'; readonly min: number; readonly max?: number }
  | { readonly kind: 'number'; readonly min: number; readonly allowInfinity?: boolean }
  | { readonly kind: 'bool' }
  | { readonly kind: 'string' }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  /** Seconds; written `90`, `90s`, `15m`, `2h`, `1d`. */
  | { readonly kind: 'duration' }
  /** Whitespace/comma separated words. */
  | { readonly kind: 'list' };

export interface KeySpec {
  readonly type: KeyType;
  readonly default: number | boolean | string | readonly string[];
  readonly doc: string;
  /** Shown redacted by `config show`, never logged, audited or sent anywhere. */
  readonly secret?: boolean;
  /** Extra environment variable names besides `REPROVM_<SECTION>_<KEY>` (the original's short forms). */
  readonly env?: readonly string[];
}

// Each helper keeps its precise type (not the whole KeyType union) so that `Config` below gets
// numbers, booleans and enum literals rather than strings.
type IntType = Extract<KeyType, { kind: 'int' }>;
const int = (min: number, max?: number): IntType => (max === undefined ? { kind: 'int', min } : { kind: 'int', min, max });
const bool = { kind: 'bool' } as const satisfies KeyType;
const str = { kind: 'string' } as const satisfies KeyType;
const dur = { kind: 'duration' } as const satisfies KeyType;
const list = { kind: 'list' } as const satisfies KeyType;
const oneOf = <const V extends readonly string[]>(...values: V): { readonly kind: 'enum'; readonly values: V } => ({ kind: 'enum', values });

export const CONFIG_SCHEMA = {
  logging: {
    level: { type: oneOf('debug', 'info', 'warning', 'error', 'fatal'), default: 'info', doc: 'lowest level written to the console and the log file', env: ['REPROVM_LOG_LEVEL'] },
    file: { type: str, default: '', doc: 'also write log entries as JSON lines to this file (empty: console only)', env: ['REPROVM_LOG_FILE'] },
  },
  execution: {
    parallel_jobs: { type: int(0, 1024), default: 0, doc: 'commands running at once; 0 = number of CPUs', env: ['REPROVM_JOBS'] },
    retry_attempts: { type: int(0, 100), default: 0, doc: 'default retries of a failing task (a task\'s own `retries` wins)' },
    timeout_seconds: { type: dur, default: 0, doc: 'default per-task timeout; 0 = none (a task\'s own `timeout` wins)' },
    kill_grace_seconds: { type: dur, default: 5, doc: 'time between SIGTERM and SIGKILL when stopping a task' },
    rate: { type: { kind: 'number', min: 0, allowInfinity: true }, default: Infinity, doc: 'task starts per second (token bucket); inf = no limit' },
    burst: { type: int(0, 1_000_000), default: 0, doc: 'token bucket size; 0 = parallel_jobs' },
    keep_going: { type: bool, default: false, doc: 'after a failure keep running everything not downstream of it' },
    strict: { type: oneOf('off', 'warn', 'error'), default: 'off', doc: 'hermeticity check of every command (see --strict)' },
    fsync: { type: oneOf('always', 'batch', 'off'), default: 'batch', doc: 'cache durability: fsync every write, one flush per run, or none' },
  },
  cache: {
    cache_dir: { type: str, default: '', doc: 'local cache directory; empty = <workspace>/.reprovm (relative paths are relative to the config file)', env: ['REPROVM_CACHE_DIR'] },
    max_cache_size_mb: { type: int(0), default: 0, doc: 'after each run, evict least-recently-used entries above this size; 0 = unlimited' },
    max_age_days: { type: int(0), default: 0, doc: 'after each run, evict entries unused for this many days; 0 = never' },
    compression: { type: oneOf('zstd', 'lz4', 'none'), default: 'zstd', doc: 'codec of new cache objects' },
    level: { type: int(0, 19), default: 3, doc: 'compression level (zstd 1-19; ignored by lz4 and none)' },
    direct_io: { type: oneOf('outputs', 'cache', 'off'), default: 'outputs', doc: 'large files written past the page cache (Linux O_DIRECT, buffered where refused): outputs = cache objects imported from the remote and output files restored from objects over 1 MiB (compressed); cache = only those objects; off = none. On slow network disks a direct write waits for the disk: use cache or off there' },
    inline_max_bytes: { type: int(0, INLINE_MAX), default: DEFAULT_INLINE_BYTES, doc: 'output files and logs up to this size are kept inside the action record instead of as objects; 0 = never' },
  },
  remote: {
    url: { type: str, default: '', doc: 'shared remote cache: s3://bucket/prefix, gs://bucket/prefix, azblob://container/prefix, a directory or file:///path; empty = none', secret: true, env: ['REPROVM_REMOTE'] },
    endpoint: { type: str, default: '', doc: 'custom endpoint URL (MinIO, R2, Ceph, an emulator); empty = the provider default', secret: true },
    mode: { type: oneOf('rw', 'ro', 'off'), default: 'rw', doc: 'rw = read and write, ro = read only (laptops), off = ignore the remote' },
    region: { type: str, default: '', doc: 'S3 region; empty = the SDK\'s chain (AWS_REGION, profile), else us-east-1' },
    path_style: { type: bool, default: false, doc: 'S3 path-style addressing (needed by most S3-compatible stores); when not set anywhere it is on whenever an endpoint is given' },
    require_signature: { type: bool, default: false, doc: 'refuse remote action records that are not HMAC-signed with REPROVM_CACHE_SIGNING_KEY' },
    upload_concurrency: { type: int(1, 256), default: 8, doc: 'remote transfers in flight at once, in each direction: uploads, and the downloads of a restore' },
    connect_timeout_seconds: { type: dur, default: 5, doc: 'time to establish a connection to the remote' },
    request_timeout_seconds: { type: dur, default: 60, doc: 'time for one request until its answer (per attempt); a streamed body fails only after this long without progress' },
    retries: { type: int(0, 20), default: 3, doc: 'retries of a transient remote error (5xx, 429, reset), with backoff' },
    breaker_threshold: { type: int(1, 1000), default: 3, doc: 'consecutive outages after which the remote is not called for breaker_cooldown_seconds' },
    breaker_cooldown_seconds: { type: dur, default: 60, doc: 'how long the circuit breaker keeps the remote off' },
  },
  notifications: {
    on: { type: oneOf('never', 'failure', 'always', 'change'), default: 'failure', doc: 'when to notify: never, failed runs, every run, or when the outcome differs from the previous run' },
    webhook_url: { type: str, default: '', doc: 'generic webhook: POST of a JSON run summary', secret: true },
    webhook_secret: { type: str, default: '', doc: 'HMAC-SHA256 key for the X-Reprovm-Signature header of the generic webhook', secret: true },
    slack_webhook_url: { type: str, default: '', doc: 'Slack incoming webhook URL', secret: true },
    discord_webhook_url: { type: str, default: '', doc: 'Discord webhook URL', secret: true },
    timeout_seconds: { type: dur, default: 10, doc: 'per-attempt timeout of a notification' },
    retries: { type: int(0, 10), default: 3, doc: 'retries of a failed notification, with backoff' },
  },
  prometheus: {
    pushgateway_url: { type: str, default: '', doc: 'push each run\'s metrics to this Pushgateway at the end (one-shot CI runs)', secret: true },
    job: { type: str, default: 'reprovm', doc: 'Pushgateway job label' },
    host: { type: str, default: '127.0.0.1', doc: 'bind address of the metrics-only exporter (serve --metrics-only)' },
    port: { type: int(0, 65535), default: 9090, doc: 'port of the metrics-only exporter' },
  },
  backup: {
    location: { type: str, default: '', doc: 'where backups go: a directory or s3://, gs://, azblob:// URL; empty = <cache_dir>/backups', secret: true },
    auto_backup: { type: bool, default: false, doc: 'take a backup after each successful run' },
    min_interval: { type: dur, default: 3600, doc: 'auto_backup takes at most one backup per this interval' },
    incremental: { type: bool, default: true, doc: 'auto_backup takes incremental backups (a full one when the chain is empty)' },
    keep: { type: int(0), default: 0, doc: 'after an auto backup, prune to this many full backups (and what their incrementals need); 0 = keep all' },
  },
  audit: {
    enabled: { type: bool, default: true, doc: 'write the tamper-evident audit log' },
    path: { type: str, default: '', doc: 'audit log file; empty = <cache_dir>/audit.log' },
    syslog: { type: bool, default: false, doc: 'also send each audit entry to syslog (the local `logger` command)' },
  },
  server: {
    host: { type: str, default: '127.0.0.1', doc: 'bind address of reprovm serve' },
    port: { type: int(0, 65535), default: 8080, doc: 'port of reprovm serve' },
    workspaces: { type: list, default: [], doc: 'named workspaces to serve, as NAME:MANIFEST entries; empty = the manifests given on the command line' },
    token_file: { type: str, default: '', doc: 'file of API tokens, one "NAME ROLE SHA256-OF-TOKEN" per line' },
    open_health: { type: bool, default: true, doc: 'GET /health needs no token' },
    open_metrics: { type: bool, default: false, doc: 'GET /metrics needs no token' },
    tls_cert: { type: str, default: '', doc: 'PEM certificate; with tls_key, serve HTTPS' },
    tls_key: { type: str, default: '', doc: 'PEM private key file for tls_cert' },
    max_queue: { type: int(1, 100_000), default: 100, doc: 'queued runs per workspace before POST /runs answers 429' },
    run_concurrency: { type: int(1, 64), default: 1, doc: 'runs executing at once per workspace' },
    history_limit: { type: int(1, 1_000_000), default: 200, doc: 'finished runs kept under <cache_dir>/runs' },
    max_body_kb: { type: int(1, 102_400), default: 64, doc: 'largest accepted request body' },
    request_timeout_seconds: { type: dur, default: 30, doc: 'time limit of one HTTP request (SSE streams excepted)' },
  },
} as const satisfies Record<string, Record<string, KeySpec>>;

/** `[schedule.NAME]` and `[token.NAME]` sections. */
export const NAMED_SECTION_SCHEMA = {
  schedule: {
    cron: { type: str, default: '', doc: 'cron expression (5 fields, or 6 with seconds), e.g. "0 3 * * *"' },
    timezone: { type: str, default: 'UTC', doc: 'IANA time zone of the cron expression' },
    workspace: { type: str, default: '', doc: 'workspace name (see [server] workspaces); empty = the first one' },
    targets: { type: list, default: [], doc: 'tasks to build; empty = all' },
    force: { type: bool, default: false, doc: 'run every task even if cached' },
    catch_up: { type: bool, default: false, doc: 'on start, replay the last tick missed while the daemon was down' },
  },
  token: {
    role: { type: oneOf('read', 'run', 'admin'), default: 'read', doc: 'read = GETs, run = also trigger/cancel runs, admin = also cache clear/gc and config' },
    sha256: { type: str, default: '', doc: 'hex SHA-256 of the bearer token (the token itself is never stored)', secret: true },
  },
} as const satisfies Record<string, Record<string, KeySpec>>;

type ValueOf<S extends KeySpec> = S['type'] extends { kind: 'int' | 'number' | 'duration' }
  ? number
  : S['type'] extends { kind: 'bool' }
    ? boolean
    : S['type'] extends { kind: 'list' }
      ? readonly string[]
      : S['type'] extends { kind: 'enum'; values: readonly (infer V)[] }
        ? V
        : string;

type SectionValues<T extends Record<string, KeySpec>> = { readonly [K in keyof T]: ValueOf<T[K]> };

export type SectionName = keyof typeof CONFIG_SCHEMA;
export type NamedSectionKind = keyof typeof NAMED_SECTION_SCHEMA;

export type ScheduleEntry = SectionValues<(typeof NAMED_SECTION_SCHEMA)['schedule']> & { readonly name: string };
export type TokenEntry = SectionValues<(typeof NAMED_SECTION_SCHEMA)['token']> & { readonly name: string };

/**
 * The effective, typed configuration. `rate` is a number (`Infinity` for inf); durations are
 * seconds.
 */
export type Config = { readonly [S in SectionName]: SectionValues<(typeof CONFIG_SCHEMA)[S]> } & {
  readonly schedule: readonly ScheduleEntry[];
  readonly token: readonly TokenEntry[];
};

/** Where a value came from, for `config show`. */
export type ValueSource =
  | { readonly kind: 'default' }
  | { readonly kind: 'file'; readonly file: string; readonly line: number }
  | { readonly kind: 'env'; readonly name: string }
  | { readonly kind: 'flag'; readonly name: string };
