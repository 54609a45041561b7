/**
 * The remote cache settings of a command: `--remote`, `--remote-endpoint`, `--remote-mode`,
 * `--require-signature` over the configuration (`[remote]`, whose environment overrides such as
 * `REPROVM_REMOTE` and `REPROVM_REMOTE_ENDPOINT` the loader has applied), plus the signing key
 * from `REPROVM_CACHE_SIGNING_KEY`. Also opens the store and builds the run's remote tier.
 */
import type { ObjectStore } from '../cas/object-store.js';
import { CircuitBreaker } from '../cache/breaker.js';
import { signingKeyFrom } from '../cache/signing.js';
import { RemoteTier, type RemoteSink } from '../cache/tiered-cache.js';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/load.js';
import type { EventBus } from '../events/bus.js';
import { eventTime } from '../events/events.js';
import type { BlobStore } from '../remote/blob-store.js';
import { openRemote, RemoteOpenError, remoteConnection, type RemoteConnection } from '../ops/open-remote.js';
import { UsageError } from './load-manifest.js';

export type RemoteMode = 'rw' | 'ro' | 'off';

/** The remote flags as commander parses them. */
export interface RemoteFlags {
  remote?: string;
  remoteEndpoint?: string;
  remoteMode?: RemoteMode;
  requireSignature?: boolean;
  /** `--config FILE` where the command has it. */
  config?: string;
}

/** Everything needed to talk to the remote cache. */
export interface RemoteSettings extends RemoteConnection {
  readonly url: string;
  readonly mode: RemoteMode;
  readonly requireSignature: boolean;
  readonly signingKey?: Buffer;
  readonly uploadConcurrency: number;
  readonly breakerThreshold: number;
  readonly breakerCooldownMs: number;
}

/** Loads the configuration for a command, turning a bad value into a usage error. */
export function loadConfigOrUsage(env: NodeJS.ProcessEnv, workspace: string | undefined, file?: string): LoadedConfig {
  try {
    return loadConfig({ env, ...(workspace === undefined ? {} : { workspace }), ...(file === undefined ? {} : { explicitFile: file }) });
  } catch (e: unknown) {
    if (e instanceof ConfigError) throw new UsageError(`reprovm: error: ${e.message}`);
    throw e;
  }
}

/**
 * The effective remote settings (flags > environment > file > defaults), or undefined when no
 * remote is configured. Throws {@link UsageError} for `--require-signature` without a key
 * when a remote is in use.
 * Path-style addressing defaults to on when an endpoint is given (what MinIO, Ceph, R2 and
 * emulators need); `path_style` set anywhere wins.
 */
export function resolveRemote(flags: RemoteFlags, loaded: LoadedConfig, env: NodeJS.ProcessEnv): RemoteSettings | undefined {
  const c = loaded.config.remote;
  const url = flags.remote ?? c.url;
  const mode = flags.remoteMode ?? c.mode;
  const requireSignature = flags.requireSignature === true || c.require_signature;
  const signingKey = signingKeyFrom(env.REPROVM_CACHE_SIGNING_KEY);
  // Without a remote in use there is nothing to verify: a local-only build needs no key.
  if (url === '' || mode === 'off') return undefined;
  if (requireSignature && signingKey === undefined) {
    throw new UsageError('reprovm: error: --require-signature needs a signing key: set REPROVM_CACHE_SIGNING_KEY (the same key the writers use)');
  }
  return {
    url,
    mode,
    ...remoteConnection(loaded, flags.remoteEndpoint, env),
    requireSignature,
    ...(signingKey === undefined ? {} : { signingKey }),
    uploadConcurrency: c.upload_concurrency,
    breakerThreshold: c.breaker_threshold,
    breakerCooldownMs: c.breaker_cooldown_seconds * 1000,
  };
}

/**
 * Opens the remote cache (lazily: the SDK loads on first use) with timeouts and retries, through
 * the one opener every command uses (src/ops/open-remote.ts). A malformed URL is a usage error.
 */
export async function openRemoteStore(s: RemoteSettings, env: NodeJS.ProcessEnv, onRetry?: (error: Error) => void): Promise<BlobStore> {
  try {
    return await openRemote(s.url, s, { env, lazy: true, ...(onRetry === undefined ? {} : { onRetry }) });
  } catch (e: unknown) {
    if (e instanceof RemoteOpenError) throw new UsageError(`reprovm: error: ${e.message}`);
    throw e;
  }
}

/** A sink that turns the tier's reports into run events. */
export function busSink(bus: EventBus): RemoteSink {
  return {
    warning: (message, kind, task) => bus.emit({ type: 'warning', time: eventTime(), message, ...(task === undefined ? {} : { task }), remote: { kind } }),
    transfer: (t) => bus.emit({ type: 'remote-transfer', time: eventTime(), ...t }),
  };
}

/** Builds the run's remote tier once the run has opened its local store. */
export function remoteTierFactory(
  s: RemoteSettings,
  store: BlobStore,
  sink: RemoteSink,
  signal: AbortSignal,
  onCreate: (tier: RemoteTier) => void,
): (local: ObjectStore) => RemoteTier {
  return (local) => {
    const tier = new RemoteTier({
      remote: store,
      mode: s.mode === 'ro' ? 'ro' : 'rw',
      ...(s.signingKey === undefined ? {} : { signingKey: s.signingKey }),
      concurrency: s.uploadConcurrency,
      breaker: new CircuitBreaker({ threshold: s.breakerThreshold, cooldownMs: s.breakerCooldownMs }),
      sink,
      local,
      signal,
    });
    onCreate(tier);
    return tier;
  };
}

/** A megabyte figure for progress lines. */
export function formatMB(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes >= 1e7 ? 0 : 1)} MB`;
}

/**
 * Waits for a tier's pending uploads, with a progress line on stderr: rewritten in place on a
 * terminal, one plain line at the start and one at the end otherwise. Nothing when nothing is pending.
 */
export async function flushUploads(tier: RemoteTier, stderr: NodeJS.WriteStream, quietStart = false): Promise<void> {
  const before = tier.uploads;
  if (before === undefined || before.recordsDone === before.recordsQueued) return;
  const tty = stderr.isTTY === true;
  const line = (p: { recordsDone: number; recordsQueued: number; bytesUploaded: number }): string =>
    `reprovm: uploading to the remote cache: ${p.recordsDone}/${p.recordsQueued} tasks, ${formatMB(p.bytesUploaded)}`;
  if (!quietStart && !tty) stderr.write(`reprovm: waiting for ${before.recordsQueued - before.recordsDone} uploads to the remote cache ${tier.description}...\n`);
  const done = await tier.flush((p) => {
    if (tty) stderr.write(`\r${line(p)}\x1b[K`);
  });
  if (done === undefined) return;
  const dropped = done.recordsDropped > 0 ? `, ${done.recordsDropped} not uploaded` : '';
  stderr.write(`${tty ? '\r' : ''}reprovm: uploaded ${done.recordsUploaded} tasks (${done.blobsUploaded} blobs, ${formatMB(done.bytesUploaded)}) to the remote cache${dropped}${tty ? '\x1b[K' : ''}\n`);
}
