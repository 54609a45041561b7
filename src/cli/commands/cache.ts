/**
 * `reprovm cache gc | clean | stats | verify`: maintenance of a cache directory. Thin: parsing
 * and printing here, the work in src/ops/cache-*.ts (which the REST API calls too).
 */
import { Command, InvalidArgumentError } from 'commander';
import { CacheLockBusyError } from '../../ops/cache-lock.js';
import { cleanCache } from '../../ops/cache-clean.js';
import { gcCache, type GcReport } from '../../ops/cache-gc.js';
import { cacheStats, type CacheStats } from '../../ops/cache-stats.js';
import { verifyCache, type VerifyReport } from '../../ops/cache-verify.js';
import { formatBytes, parseAge, parseSize } from '../../ops/gc-units.js';
import { describeError, openOpsContext, withOpsOptions, type OpsIo, type OpsOptions } from './ops-context.js';
import { formatRemoteStats, formatRemoteVerify, remoteCacheStats, remoteCacheVerify } from './cache-remote.js';

const EXIT_OK = 0;
const EXIT_PROBLEMS = 1;
const EXIT_USAGE = 2;

function sizeOption(v: string): number {
  const r = parseSize(v);
  if (!r.ok) throw new InvalidArgumentError('expected a size such as 10G, 512M or 1.5GiB');
  return r.value;
}

function ageOption(v: string): number {
  const r = parseAge(v);
  if (!r.ok) throw new InvalidArgumentError('expected an age such as 30d, 12h or 90m');
  return r.value;
}

const pct = (r: number | null): string => (r === null ? 'n/a' : `${(r * 100).toFixed(1)}%`);

/** Human text of a stats report. */
export function formatStats(s: CacheStats): string {
  const lines = [
    `cache: ${s.cacheDir}`,
    `objects: ${s.objects} (${formatBytes(s.bytes)} on disk, ${formatBytes(s.uncompressedBytes)} uncompressed)`,
    `records: ${s.records} (${formatBytes(s.recordBytes)})${s.corruptRecords > 0 ? `, ${s.corruptRecords} corrupt` : ''}`,
    `quarantine: ${s.quarantine.objects} objects, ${s.quarantine.records} records (${formatBytes(s.quarantine.bytes)})`,
  ];
  if (s.oldestUse !== undefined) lines.push(`last used: oldest ${s.oldestUse}, newest ${s.newestUse ?? ''}`);
  lines.push(`hit rate of the last ${s.recentRuns.length} runs: ${pct(s.hitRate)}`);
  for (const r of s.recentRuns) {
    lines.push(`  ${r.time}  ${r.total} tasks: ${r.executed} executed, ${r.cached} cached, ${r.failed} failed (hit rate ${pct(r.hitRate)})  ${r.workspace}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Human text of a gc report. */
export function formatGc(r: GcReport): string {
  const verb = r.dryRun ? 'would evict' : 'evicted';
  const head = `reprovm: cache gc: ${verb} ${r.recordsEvicted} records and ${r.objectsEvicted} objects, ${formatBytes(r.bytesFreed)}; ` +
    `${formatBytes(r.before.bytes)} → ${formatBytes(r.after.bytes)}${r.dryRun ? ' (dry run: nothing deleted)' : ''}`;
  const lines = [head];
  if (!r.underLimit) lines.push(`reprovm: warning: the cache is still above ${formatBytes(r.maxBytes ?? 0)}: the rest was used within the last ${Math.round(r.graceMs / 1000)} s`);
  if (r.dryRun) for (const e of r.evicted) lines.push(`  ${e.task ?? '(corrupt record)'}  ${e.key.slice(0, 12)}…  last used ${e.lastUsed}`);
  return `${lines.join('\n')}\n`;
}

/** Human text of a verify report. */
export function formatVerify(r: VerifyReport): string {
  const lines = r.problems.map((p) => `${p.repaired ? 'repaired' : 'problem'}: ${p.message}`);
  const remaining = r.remaining > 0 ? `; ${r.remaining} problems remain (run cache verify --repair)` : '';
  lines.push(`reprovm: cache verify: ${r.objectsChecked} objects and ${r.recordsChecked} records checked, ${r.problems.length} problems${remaining}`);
  return `${lines.join('\n')}\n`;
}

/** Registers `cache` and its subcommands; `done` receives the exit code. */
export function registerCacheCommand(program: Command, io: OpsIo, done: (code: number) => void): void {
  const cache = program.command('cache').description('maintain the local cache (gc, clean, stats, verify) and sync it with the remote cache (push, pull, init-remote)');
  const print = (json: boolean | undefined, value: unknown, text: string): void => {
    io.stdout.write(json ? `${JSON.stringify(value)}\n` : text);
  };
  const guarded = async (opts: OpsOptions, fn: (ctx: NonNullable<ReturnType<typeof openOpsContext>>) => Promise<number>): Promise<void> => {
    const ctx = openOpsContext(opts, io);
    if (ctx === undefined) return done(EXIT_USAGE);
    try {
      done(await fn(ctx));
    } catch (error) {
      io.stderr.write(`reprovm: error: ${describeError(error)}\n`);
      done(error instanceof CacheLockBusyError ? EXIT_USAGE : EXIT_PROBLEMS);
    } finally {
      await ctx.close();
    }
  };

  withOpsOptions(cache.command('gc'))
    .description('evict least-recently-used entries until the cache is within --max-size / --max-age')
    .option('--max-size <size>', 'target size, e.g. 10G (default: [cache] max_cache_size_mb)', sizeOption)
    .option('--max-age <age>', 'evict entries unused for this long, e.g. 30d (default: [cache] max_age_days)', ageOption)
    .option('--grace <age>', 'never delete anything written or used this recently (protects running builds)', ageOption)
    .option('--dry-run', 'say what would be evicted; delete nothing')
    .option('--json', 'print the report as JSON')
    .action((opts: OpsOptions & { maxSize?: number; maxAge?: number; grace?: number; dryRun?: boolean; json?: boolean }) =>
      guarded(opts, async (ctx) => {
        const mb = ctx.loaded.config.cache.max_cache_size_mb;
        const days = ctx.loaded.config.cache.max_age_days;
        const maxBytes = opts.maxSize ?? (mb > 0 ? mb * 1024 * 1024 : undefined);
        const maxAgeMs = opts.maxAge ?? (days > 0 ? days * 86_400_000 : undefined);
        if (maxBytes === undefined && maxAgeMs === undefined) {
          io.stderr.write('reprovm: error: cache gc needs a limit: --max-size or --max-age (or [cache] max_cache_size_mb / max_age_days)\n');
          return EXIT_USAGE;
        }
        const report = await gcCache(ctx.cacheDir, {
          dryRun: opts.dryRun === true,
          ...(maxBytes === undefined ? {} : { maxBytes }),
          ...(maxAgeMs === undefined ? {} : { maxAgeMs }),
          ...(opts.grace === undefined ? {} : { graceMs: opts.grace }),
        });
        if (!report.dryRun && report.recordsEvicted + report.objectsEvicted > 0) {
          ctx.record('cache.evicted', { trigger: 'cache gc', records: report.recordsEvicted, objects: report.objectsEvicted, bytes: report.bytesFreed });
        }
        print(opts.json, report, formatGc(report));
        return EXIT_OK;
      }),
    );

  withOpsOptions(cache.command('clean'))
    .description('remove every cached object and record')
    .option('--json', 'print the report as JSON')
    .action((opts: OpsOptions & { json?: boolean }) =>
      guarded(opts, async (ctx) => {
        const r = await cleanCache(ctx.cacheDir);
        ctx.record('cache.evicted', { trigger: 'cache clean', records: r.recordsRemoved, objects: r.objectsRemoved, bytes: r.bytesFreed });
        print(opts.json, r, `reprovm: cache clean: removed ${r.objectsRemoved} objects and ${r.recordsRemoved} records (${formatBytes(r.bytesFreed)})\n`);
        return EXIT_OK;
      }),
    );

  withOpsOptions(cache.command('stats'))
    .description('objects, bytes, records, quarantine and the hit rate of the last runs')
    .option('--json', 'print the statistics as JSON')
    .option('--remote [url]', 'also count the remote cache\'s objects and records (default: the configured remote)')
    .option('--remote-endpoint <url>', 'custom endpoint of the remote (MinIO, R2, Ceph, an emulator)')
    .action((opts: OpsOptions & { json?: boolean; remote?: string | true; remoteEndpoint?: string }) =>
      guarded(opts, async (ctx) => {
        const s = await cacheStats(ctx.cacheDir);
        if (opts.remote !== undefined) {
          const remote = await remoteCacheStats(opts.remote, ctx.loaded, io, opts.remoteEndpoint);
          print(opts.json, { ...s, remote }, formatStats(s) + formatRemoteStats(remote));
          return EXIT_OK;
        }
        print(opts.json, s, formatStats(s));
        return EXIT_OK;
      }),
    );

  withOpsOptions(cache.command('verify'))
    .description('check every object\'s digest and that every record\'s blobs are present; exit 1 when problems remain')
    .option('--repair', 'quarantine corrupt objects and records, drop records whose blobs are missing')
    .option('--json', 'print the report as JSON')
    .option('--remote [url]', 'check the remote cache instead: every record (and signature, with a key) and every blob (default: the configured remote)')
    .option('--remote-endpoint <url>', 'custom endpoint of the remote (MinIO, R2, Ceph, an emulator)')
    .action((opts: OpsOptions & { repair?: boolean; json?: boolean; remote?: string | true; remoteEndpoint?: string }) =>
      guarded(opts, async (ctx) => {
        if (opts.remote !== undefined) {
          const rr = await remoteCacheVerify(opts.remote, ctx.loaded, io, opts.remoteEndpoint);
          print(opts.json, rr, formatRemoteVerify(rr));
          return rr.ok ? EXIT_OK : EXIT_PROBLEMS;
        }
        const r = await verifyCache(ctx.cacheDir, { repair: opts.repair === true });
        for (const p of r.problems) {
          if (p.kind === 'corrupt-object' || p.kind === 'corrupt-record') ctx.record('cache.corrupt', { id: p.id, kind: p.kind, repaired: p.repaired });
        }
        print(opts.json, r, formatVerify(r));
        return r.ok ? EXIT_OK : EXIT_PROBLEMS;
      }),
    );
}
