/**
 * `reprovm cache push | pull | init-remote`: the remote cache by hand. `push` uploads local
 * records with their blobs (blobs already there are skipped), `pull` fetches remote records
 * into the local cache (verified as a run verifies them), both for everything or for what a
 * manifest's targets need; `init-remote` creates the bucket or container. Unlike a run, where
 * a remote problem is a warning, here it is the command's result: exit 1.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { ActionCache } from '../../cas/action-cache.js';
import { ObjectStore } from '../../cas/object-store.js';
import { remoteStats, verifyRemote, type RemoteStats, type RemoteVerifyReport } from '../../cache/remote-inspect.js';
import { pullRecords, pushRecords, type SyncProgress, type SyncSelection } from '../../cache/remote-sync.js';
import type { LoadedConfig } from '../../config/load.js';
import type { RemoteSink, RemoteTier } from '../../cache/tiered-cache.js';
import { isHexDigest, type TaskKey } from '../../hash/digest.js';
import type { BlobStore } from '../../remote/blob-store.js';
import { loadManifest, UsageError } from '../load-manifest.js';
import { formatMB, openRemoteStore, remoteTierFactory, resolveRemote, type RemoteFlags } from '../remote-options.js';
import { describeError, openOpsContext, withOpsOptions, type OpsIo, type OpsOptions } from './ops-context.js';

const EXIT_OK = 0;
const EXIT_PROBLEMS = 1;
const EXIT_USAGE = 2;

type SyncOptions = OpsOptions & RemoteFlags & { progress: boolean; json?: boolean; allowAbsoluteInputs?: boolean };

/** Progress on stderr: a line rewritten in place on a terminal, a plain line per 10% otherwise. */
function progressPrinter(verb: string, stderr: NodeJS.WritableStream, tty: boolean): { update(p: SyncProgress): void; end(): void } {
  let lastDecile = -1;
  let shown = false;
  const text = (p: SyncProgress): string => `reprovm: ${verb}: ${p.done}/${p.total} tasks, ${formatMB(p.bytes)}`;
  return {
    update(p) {
      if (tty) {
        const width = 24;
        const filled = p.total === 0 ? width : Math.round((p.done / p.total) * width);
        stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text(p)}\x1b[K`);
        shown = true;
        return;
      }
      const decile = p.total === 0 ? 10 : Math.floor((p.done / p.total) * 10);
      if (decile !== lastDecile && (p.done > 0 || p.total === 0)) {
        lastDecile = decile;
        stderr.write(`${text(p)}\n`);
      }
    },
    end() {
      if (tty && shown) stderr.write('\r\x1b[K');
    },
  };
}

/** Registers push, pull and init-remote under the `cache` command. */
export function registerRemoteCacheCommands(cache: Command, io: OpsIo, done: (code: number) => void): void {
  const remoteOptions = (cmd: Command): Command =>
    withOpsOptions(cmd)
      .option('--remote <url>', 'the remote cache (default: REPROVM_REMOTE, [remote] url)')
      .option('--remote-endpoint <url>', 'custom endpoint (MinIO, R2, Ceph, an emulator)');

  const run = async (opts: SyncOptions, work: (args: Opened) => Promise<number>): Promise<void> => {
    let opened: Opened | number | undefined;
    try {
      opened = await openRemote(opts, io);
      if (typeof opened === 'number') return done(opened);
      done(await work(opened));
    } catch (error) {
      io.stderr.write(error instanceof UsageError ? `${error.message}\n` : `reprovm: error: ${describeError(error)}\n`);
      done(error instanceof UsageError ? EXIT_USAGE : EXIT_PROBLEMS);
    } finally {
      if (opened !== undefined && typeof opened !== 'number') await opened.close();
    }
  };

  /** The arguments and options push and pull share. */
  const syncOptions = (cmd: Command): Command =>
    remoteOptions(cmd)
      .argument('[manifest]', 'only the records of this manifest\'s tasks (as they are now)')
      .argument('[targets...]', 'tasks (with their dependencies); default: all')
      .option('--no-progress', 'no progress bar, even on a terminal')
      .option('--json', 'print the report as JSON');
  /** What push and pull start from: the selection (with a manifest), the local cache, the tier and the progress bar. */
  const startSync = async (o: Opened, manifest: string | undefined, targets: string[], opts: SyncOptions, mode: 'rw' | 'ro', verb: string) => {
    const sel = await selection(manifest, targets, opts, io);
    const local = await o.local(sel?.cacheDir);
    return { sel, local, tier: o.tier(local.store, mode), bar: progressPrinter(verb, io.stderr, opts.progress && isTty(io.stderr)) };
  };

  syncOptions(cache.command('push'))
    .description('upload cached results (every record, or what a manifest\'s targets need) to the remote cache')
    .action((manifest: string | undefined, targets: string[], opts: SyncOptions) =>
      run(opts, async (o) => {
        const { sel, local, tier, bar } = await startSync(o, manifest, targets, opts, 'rw', 'pushing');
        const report = await pushRecords(tier, local.actions, sel?.selection, (p) => bar.update(p));
        bar.end();
        o.ctx.record('remote.push', { remote: tier.description, records: report.pushed, blobs: report.blobs, bytes: report.bytes, failed: report.failed });
        const text = `reprovm: cache push: ${report.pushed} tasks pushed (${report.blobs} blobs uploaded, ${formatMB(report.bytes)}) to ${tier.description}` +
          `${report.present > 0 ? `, ${report.present} already there (kept)` : ''}${report.failed > 0 ? `, ${report.failed} failed` : ''}${report.unknown > 0 ? `, ${report.unknown} tasks not cached locally` : ''}\n`;
        io.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : text);
        return report.failed > 0 || o.problems() > 0 ? EXIT_PROBLEMS : EXIT_OK;
      }),
    );

  syncOptions(cache.command('pull'))
    .description('download results from the remote cache into the local one (everything, or what a manifest\'s targets need)')
    .option('--require-signature', 'refuse records not signed with REPROVM_CACHE_SIGNING_KEY')
    .action((manifest: string | undefined, targets: string[], opts: SyncOptions) =>
      run(opts, async (o) => {
        const { sel, local, tier, bar } = await startSync(o, manifest, targets, opts, 'ro', 'pulling');
        const report = await pullRecords(tier, local.actions, sel?.selection, () => listRecordKeys(o.store), (p) => bar.update(p));
        bar.end();
        o.ctx.record('remote.pull', { remote: tier.description, records: report.pulled, bytes: report.bytes, missing: report.missing });
        const text = `reprovm: cache pull: ${report.pulled} tasks pulled (${formatMB(report.bytes)}) from ${tier.description}, ${report.present} already local` +
          `${report.missing > 0 ? `, ${report.missing} not in the remote or rejected` : ''}${report.unknown > 0 ? `, ${report.unknown} tasks whose key needs a dependency that is not cached` : ''}\n`;
        io.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : text);
        return o.problems() > 0 ? EXIT_PROBLEMS : EXIT_OK;
      }),
    );

  remoteOptions(cache.command('init-remote'))
    .description('create the remote cache\'s bucket or container if it does not exist')
    .action((opts: SyncOptions) =>
      run(opts, async (o) => {
        await o.store.ensureBucket();
        io.stdout.write(`reprovm: remote cache ${o.store.description} is ready\n`);
        return EXIT_OK;
      }),
    );
}

interface Opened {
  readonly ctx: NonNullable<ReturnType<typeof openOpsContext>>;
  readonly store: BlobStore;
  local(cacheDir: string | undefined): Promise<{ store: ObjectStore; actions: ActionCache }>;
  tier(local: ObjectStore, mode: 'rw' | 'ro'): RemoteTier;
  /** Remote problems reported so far (each was printed as an error). */
  problems(): number;
  close(): Promise<void>;
}

async function openRemote(opts: SyncOptions, io: OpsIo): Promise<Opened | number> {
  const ctx = openOpsContext(opts, io);
  if (ctx === undefined) return EXIT_USAGE;
  const settings = resolveRemote(opts, ctx.loaded, io.env);
  if (settings === undefined) {
    await ctx.close();
    const off = (opts.remote ?? ctx.loaded.config.remote.url) !== '' && (opts.remoteMode ?? ctx.loaded.config.remote.mode) === 'off';
    io.stderr.write(
      off
        ? 'reprovm: error: the remote cache is off (remote mode "off"): pass --remote-mode rw, or set [remote] mode = rw\n'
        : 'reprovm: error: no remote cache configured: pass --remote URL, or set REPROVM_REMOTE or [remote] url\n',
    );
    return EXIT_USAGE;
  }
  let made: RemoteTier | undefined;
  const store = await openRemoteStore(settings, io.env, (e) => made?.noteRetry(e));
  let problems = 0;
  const sink: RemoteSink = {
    warning: (message, kind) => {
      // Outside a run a remote problem is the command's failure, not a side note; so is a
      // rejected signature when signatures are required.
      const failure = kind !== 'signature' || settings.requireSignature;
      if (failure) problems += 1;
      io.stderr.write(`reprovm: ${failure ? 'error' : 'warning'}: ${message}\n`);
    },
    transfer: () => undefined,
  };
  const abort = new AbortController();
  return {
    ctx,
    store,
    local: async (cacheDir) => {
      const dir = cacheDir ?? ctx.cacheDir;
      const objects = new ObjectStore(dir, { codec: 'zstd', level: 3, directIo: ctx.loaded.config.cache.direct_io });
      await objects.init();
      return { store: objects, actions: new ActionCache(dir) };
    },
    tier: (local, mode) => remoteTierFactory({ ...settings, mode }, store, sink, abort.signal, (t) => (made = t))(local),
    problems: () => problems,
    close: async () => {
      await store.close().catch(() => undefined);
      await ctx.close();
    },
  };
}

/** With a manifest: its workspace, graph and selected tasks, and its cache dir (`--cache-dir` or `<workspace>/.reprovm`). */
async function selection(
  manifest: string | undefined,
  targets: string[],
  opts: SyncOptions,
  io: OpsIo,
): Promise<{ selection: SyncSelection; cacheDir: string } | undefined> {
  if (manifest === undefined) return undefined;
  const loaded = await loadManifest(path.resolve(io.cwd, manifest), targets, { color: false, allowAbsoluteInputs: opts.allowAbsoluteInputs === true, readOnly: true });
  const workspace = loaded.manifest.workspace;
  const cacheDir = opts.cacheDir ? path.resolve(io.cwd, opts.cacheDir) : path.join(workspace, '.reprovm');
  return { selection: { workspace, graph: loaded.graph, selected: loaded.selected, env: io.env }, cacheDir };
}

/** Every task key with a record in the remote. */
async function listRecordKeys(store: BlobStore): Promise<TaskKey[]> {
  const keys: TaskKey[] = [];
  for await (const info of store.list('ac/')) {
    const m = /^ac\/([0-9a-f]{64})\.json$/.exec(info.key);
    if (m?.[1] !== undefined && isHexDigest(m[1])) keys.push(m[1] as TaskKey);
  }
  return keys;
}

function isTty(s: NodeJS.WritableStream): boolean {
  return (s as Partial<NodeJS.WriteStream>).isTTY === true;
}

/** `--remote [url]` of `cache stats` / `cache verify`: a bare flag means the configured remote. */
async function openForInspection(flag: string | true, loaded: LoadedConfig, io: OpsIo, endpoint?: string): Promise<{ store: BlobStore; signingKey?: Buffer }> {
  // The caller prints errors with its own "reprovm: error:" prefix.
  const plain = (e: unknown): Error => new Error(e instanceof Error ? e.message.replace(/^reprovm: error: /, '') : String(e));
  try {
    const settings = resolveRemote({ ...(flag === true ? {} : { remote: flag }), remoteMode: 'ro', ...(endpoint === undefined ? {} : { remoteEndpoint: endpoint }) }, loaded, io.env);
    if (settings === undefined) throw new Error('no remote cache configured: pass --remote URL, or set REPROVM_REMOTE or [remote] url');
    const store = await openRemoteStore(settings, io.env);
    return { store, ...(settings.signingKey === undefined ? {} : { signingKey: settings.signingKey }) };
  } catch (e: unknown) {
    throw plain(e);
  }
}

/** `cache stats --remote`: object and record counts of the remote. */
export async function remoteCacheStats(flag: string | true, loaded: LoadedConfig, io: OpsIo, endpoint?: string): Promise<RemoteStats> {
  const { store } = await openForInspection(flag, loaded, io, endpoint);
  try {
    return await remoteStats(store);
  } finally {
    await store.close().catch(() => undefined);
  }
}

/** Human text of {@link remoteCacheStats}. */
export function formatRemoteStats(s: RemoteStats): string {
  return `remote: ${s.remote}\n  objects: ${s.objects} (${formatMB(s.bytes)})\n  records: ${s.records} (${formatMB(s.recordBytes)})\n`;
}

/** `cache verify --remote`: downloads and checks every remote record and blob (signatures too with a key). */
export async function remoteCacheVerify(flag: string | true, loaded: LoadedConfig, io: OpsIo, endpoint?: string): Promise<RemoteVerifyReport> {
  const { store, signingKey } = await openForInspection(flag, loaded, io, endpoint);
  try {
    return await verifyRemote(store, { ...(signingKey === undefined ? {} : { signingKey }), concurrency: loaded.config.remote.upload_concurrency });
  } finally {
    await store.close().catch(() => undefined);
  }
}

/** Human text of {@link remoteCacheVerify}. */
export function formatRemoteVerify(r: RemoteVerifyReport): string {
  const lines = r.problems.map((p) => `problem: ${p.message}`);
  lines.push(`reprovm: cache verify --remote: ${r.blobsChecked} blobs and ${r.recordsChecked} records checked in ${r.remote}, ${r.problems.length} problems`);
  return `${lines.join('\n')}\n`;
}
