/**
 * `reprovm health`: is this machine fit to run builds? Each check is ok, warning or critical;
 * the report's status is the worst of them (exit 0 / 1 / 2).
 *
 * - cache-dir   the cache directory is a writable directory (a probe file is created and
 *               removed), or does not exist yet but can be created. Critical otherwise.
 * - disk-space  free space on the cache's filesystem: critical below 2% or 100 MiB, warning
 *               below 10% or 1 GiB (whichever trips first).
 * - cas-sample  up to 20 random objects are decoded and checked against their digest (read
 *               only: nothing is quarantined). A bad object is a warning: the cache treats it
 *               as a miss and heals itself, but `cache verify --repair` should be run.
 * - remote      when the caller passes the configured remote: has() on a probe key.
 *               Unreachable (transient) is a warning (builds go on without it); refused
 *               credentials, a missing bucket or a remote that cannot be opened at all
 *               (`remoteError`, e.g. a malformed URL) are critical.
 * - lock        the workspace lock (`<workspace>/.reprovm/lock`, `lock.owner`: where runs take
 *               it, which is not the cache dir when `cache_dir` points elsewhere) and the cache
 *               lock in the cache dir: held by a live process is ok, left by a dead one is a
 *               warning (the next run breaks it, but something crashed). The workspace lock is
 *               checked only when the caller names the workspace (the CLI: --workspace, else
 *               the current directory; the server: each served workspace).
 * - config      the configuration loaded (the CLI reports a load error as critical).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, rm, statfs, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Config } from '../config/schema.js';
import { BlobStoreError, type BlobStore } from '../remote/blob-store.js';
import { isProcessAlive } from '../util/process.js';
import { cacheLockPaths, readOwner } from './cache-lock.js';
import { scanObjects } from './cache-scan.js';
import { objectProblem } from './cache-verify.js';

export type HealthStatus = 'ok' | 'warning' | 'critical';

/** One check's outcome. */
export interface HealthCheck {
  readonly name: string;
  readonly status: HealthStatus;
  readonly message: string;
}

/** Result of {@link checkHealth}; plain JSON. */
export interface HealthReport {
  readonly status: HealthStatus;
  readonly checks: HealthCheck[];
}

/** Free-space thresholds (bytes and fraction of the filesystem). */
export const DISK_THRESHOLDS = {
  criticalBytes: 100 * 1024 ** 2,
  criticalFraction: 0.02,
  warningBytes: 1024 ** 3,
  warningFraction: 0.1,
} as const;

const SAMPLE = 20;
const REMOTE_TIMEOUT_MS = 10_000;
const RANK: Readonly<Record<HealthStatus, number>> = { ok: 0, warning: 1, critical: 2 };

/** The worst of some statuses. */
export function worst(statuses: Iterable<HealthStatus>): HealthStatus {
  let w: HealthStatus = 'ok';
  for (const s of statuses) if (RANK[s] > RANK[w]) w = s;
  return w;
}

/** Exit code of a status: 0 ok, 1 warning, 2 critical. */
export const healthExitCode = (s: HealthStatus): number => RANK[s];

const mib = (n: number): string => `${(n / 1024 ** 2).toFixed(0)} MiB`;

/** Classify free space (pure). */
export function diskStatus(freeBytes: number, totalBytes: number): HealthCheck {
  const frac = totalBytes > 0 ? freeBytes / totalBytes : 0;
  const what = `${mib(freeBytes)} free of ${mib(totalBytes)} (${(frac * 100).toFixed(1)}%)`;
  const t = DISK_THRESHOLDS;
  if (freeBytes < t.criticalBytes || frac < t.criticalFraction) return { name: 'disk-space', status: 'critical', message: `${what}: below 100 MiB or 2%; free space now` };
  if (freeBytes < t.warningBytes || frac < t.warningFraction) return { name: 'disk-space', status: 'warning', message: `${what}: below 1 GiB or 10%; run cache gc or free space` };
  return { name: 'disk-space', status: 'ok', message: what };
}

/** The nearest existing ancestor of `p` (statfs needs an existing path). */
function existingAncestor(p: string): string {
  let cur = p;
  while (!existsSync(cur) && dirname(cur) !== cur) cur = dirname(cur);
  return cur;
}

async function checkCacheDir(cacheDir: string): Promise<HealthCheck> {
  const name = 'cache-dir';
  let st;
  try {
    st = statSync(cacheDir, { throwIfNoEntry: false });
  } catch (e: unknown) {
    // ENOTDIR: some ancestor is a file.
    return { name, status: 'critical', message: `${cacheDir} cannot be a directory (${(e as NodeJS.ErrnoException).code ?? String(e)}: ${existingAncestor(cacheDir)} is not a directory); set --cache-dir` };
  }
  if (st !== undefined && !st.isDirectory()) return { name, status: 'critical', message: `${cacheDir} exists but is not a directory; remove it or set --cache-dir` };
  if (st === undefined) {
    const parent = existingAncestor(cacheDir);
    if (!statSync(parent).isDirectory()) return { name, status: 'critical', message: `${cacheDir} cannot be created: ${parent} is not a directory` };
  }
  const probe = join(cacheDir, `.health-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    if (st === undefined) {
      // Probe in the nearest existing ancestor: health does not create the cache directory.
      const up = join(existingAncestor(cacheDir), `.reprovm-health-${process.pid}-${randomBytes(4).toString('hex')}`);
      await mkdir(up);
      await rm(up, { recursive: true, force: true });
      return { name, status: 'ok', message: `${cacheDir} does not exist yet and can be created` };
    }
    await writeFile(probe, 'probe');
    await rm(probe, { force: true });
    return { name, status: 'ok', message: `${cacheDir} is writable` };
  } catch (e: unknown) {
    return { name, status: 'critical', message: `${cacheDir} is not writable (${(e as Error).message}); fix its permissions or set --cache-dir` };
  }
}

async function checkDisk(cacheDir: string): Promise<HealthCheck> {
  try {
    const s = await statfs(existingAncestor(cacheDir));
    return diskStatus(s.bavail * s.bsize, s.blocks * s.bsize);
  } catch (e: unknown) {
    return { name: 'disk-space', status: 'warning', message: `cannot read free space (${(e as Error).message})` };
  }
}

async function checkSample(cacheDir: string): Promise<HealthCheck> {
  const objects = await scanObjects(cacheDir);
  const picked = [...objects];
  for (let i = picked.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [picked[i], picked[j]] = [picked[j]!, picked[i]!];
  }
  const sample = picked.slice(0, SAMPLE);
  const bad: string[] = [];
  for (const o of sample) if ((await objectProblem(o.path, o.digest)) !== undefined) bad.push(o.digest);
  if (bad.length > 0) {
    return { name: 'cas-sample', status: 'warning', message: `${bad.length} of ${sample.length} sampled objects are corrupt (${bad.map((d) => d.slice(0, 12)).join(', ')}); run cache verify --repair` };
  }
  return { name: 'cas-sample', status: 'ok', message: `${sample.length} of ${objects.length} objects sampled, all verify` };
}

async function checkRemote(remote: BlobStore): Promise<HealthCheck> {
  const name = 'remote';
  try {
    await remote.has('health/probe', { signal: AbortSignal.timeout(REMOTE_TIMEOUT_MS) });
    return { name, status: 'ok', message: `${remote.description} is reachable and authorised` };
  } catch (e: unknown) {
    const kind = e instanceof BlobStoreError ? e.kind : 'transient';
    const why = e instanceof Error ? e.message : String(e);
    if (kind === 'auth') return { name, status: 'critical', message: `${remote.description} refused the credentials (${why}); check them` };
    if (kind === 'no-bucket') return { name, status: 'critical', message: `${remote.description}: the bucket/container does not exist; create it (cache init-remote)` };
    return { name, status: 'warning', message: `${remote.description} is not reachable (${why}); builds continue with the local cache` };
  }
}

function lockCheck(label: string, lockPath: string, ownerPath: string): HealthCheck | undefined {
  if (!existsSync(lockPath)) return undefined;
  const owner = readOwner(ownerPath);
  if (owner === undefined) return { name: 'lock', status: 'ok', message: `${label} is being taken` };
  if (owner.host !== hostname()) return { name: 'lock', status: 'ok', message: `${label} is held by pid ${owner.pid} on ${owner.host}` };
  if (isProcessAlive(owner.pid)) return { name: 'lock', status: 'ok', message: `${label} is held by pid ${owner.pid} (running)` };
  return { name: 'lock', status: 'warning', message: `${label} was left by pid ${owner.pid}, which is gone; the next run breaks it (a crash?)` };
}

function checkLocks(cacheDir: string, workspace: string | undefined): HealthCheck {
  const c = cacheLockPaths(cacheDir);
  const runs = workspace === undefined ? undefined : join(workspace, '.reprovm'); // as lock.ts takes it
  const found = [
    runs === undefined ? undefined : lockCheck('the workspace lock', join(runs, 'lock'), join(runs, 'lock.owner')),
    lockCheck('the cache lock', c.lock, c.owner),
  ].filter((x): x is HealthCheck => x !== undefined);
  if (found.length === 0) return { name: 'lock', status: 'ok', message: 'no lock is held' };
  return { name: 'lock', status: worst(found.map((f) => f.status)), message: found.map((f) => f.message).join('; ') };
}

/** Run every check (see the note above). `config` is the loaded, valid configuration. */
export async function checkHealth(opts: { cacheDir: string; config: Config; remote?: BlobStore; remoteError?: string; workspace?: string }): Promise<HealthReport> {
  const dir = await checkCacheDir(opts.cacheDir);
  const checks: HealthCheck[] = [dir, await checkDisk(opts.cacheDir)];
  if (dir.status !== 'critical') checks.push(await checkSample(opts.cacheDir));
  // The caller opens the configured remote (and reports a failure to open it): this module
  // stays free of the cloud SDKs.
  if (opts.remote !== undefined) checks.push(await checkRemote(opts.remote));
  else if (opts.remoteError !== undefined) checks.push({ name: 'remote', status: 'critical', message: `cannot open the remote: ${opts.remoteError}` });
  checks.push(checkLocks(opts.cacheDir, opts.workspace));
  checks.push({ name: 'config', status: 'ok', message: 'the configuration is valid' });
  return { status: worst(checks.map((c) => c.status)), checks };
}
