/**
 * The metrics-only exporter (`reprovm serve --metrics-only`): a bare node:http server with one
 * route, `GET /metrics`, for machines that want the cache watched without the REST API.
 *
 * What it exports (documented in the README, "Metrics"):
 * - `reprovm_cas_objects` and `reprovm_cas_bytes`: the local CAS of every served cache directory,
 *   summed; refreshed on scrape, at most once per `minRefreshMs` (a scrape of a large cache is a
 *   `stat` per object, and several Prometheus servers may scrape at once);
 * - `reprovm_last_run_timestamp_seconds`, `reprovm_last_run_duration_seconds` and
 *   `reprovm_last_run_tasks{status}` per workspace, from the run history each cache directory
 *   keeps (`run-stats.jsonl`): enough to alert on "the nightly build has not run for a day" or
 *   "the last build failed" without a daemon;
 * - whatever the given {@link RunMetrics} holds (its process_ and nodejs_ metrics, and run
 *   counters if the caller feeds it);
 * - run counters of CLI runs are not reconstructed from history (they would restart from zero
 *   with every pruning of it): use `serve`'s /metrics or `run --pushgateway` for those.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, Registry } from 'prom-client';
import { readRunStats } from '../ops/run-history.js';
import { scanObjects } from '../ops/cache-scan.js';
import type { RunMetrics } from '../report/metrics-reporter.js';

export interface ExporterOptions {
  readonly host: string;
  /** 0 picks a free port (see the returned `url`). */
  readonly port: number;
  readonly cacheDirs: readonly string[];
  readonly metrics: RunMetrics;
  /** CAS size of one cache directory; default: a `stat` of every object. */
  readonly casStats?: (cacheDir: string) => Promise<{ objects: number; bytes: number }>;
  /** CAS figures younger than this are served again (default 5000 ms). */
  readonly minRefreshMs?: number;
}

export interface RunningExporter {
  /** `http://host:port` as bound. */
  readonly url: string;
  close(): Promise<void>;
}

/** Objects and bytes on disk of a cache directory's CAS. */
export async function scanCasStats(cacheDir: string): Promise<{ objects: number; bytes: number }> {
  const objects = await scanObjects(cacheDir);
  return { objects: objects.length, bytes: objects.reduce((sum, o) => sum + o.size, 0) };
}

/** Gauges of the last run of every workspace found in the cache directories' run history. */
function lastRunRegistry(cacheDirs: readonly string[]): Registry {
  const registry = new Registry();
  const registers = [registry];
  const last = () => {
    const byWorkspace = new Map<string, ReturnType<typeof readRunStats>[number]>();
    for (const dir of cacheDirs) {
      for (const run of readRunStats(dir)) {
        const seen = byWorkspace.get(run.workspace);
        if (!seen || seen.time < run.time) byWorkspace.set(run.workspace, run);
      }
    }
    return byWorkspace;
  };
  new Gauge({
    name: 'reprovm_last_run_timestamp_seconds',
    help: 'Unix time at which the last recorded run of the workspace finished.',
    labelNames: ['workspace'] as const,
    registers,
    collect() {
      this.reset();
      for (const [workspace, run] of last()) this.set({ workspace }, Date.parse(run.time) / 1000);
    },
  });
  new Gauge({
    name: 'reprovm_last_run_duration_seconds',
    help: 'Wall time of the last recorded run of the workspace.',
    labelNames: ['workspace'] as const,
    registers,
    collect() {
      this.reset();
      for (const [workspace, run] of last()) this.set({ workspace }, run.wallMs / 1000);
    },
  });
  new Gauge({
    name: 'reprovm_last_run_tasks',
    help: 'Tasks of the last recorded run of the workspace by status (executed, cached, failed, skipped).',
    labelNames: ['workspace', 'status'] as const,
    registers,
    collect() {
      this.reset();
      for (const [workspace, run] of last()) {
        for (const status of ['executed', 'cached', 'failed', 'skipped'] as const) this.set({ workspace, status }, run[status]);
      }
    },
  });
  return registry;
}

/** Starts the exporter; resolves once it listens. */
export async function startMetricsExporter(opts: ExporterOptions): Promise<RunningExporter> {
  const casStats = opts.casStats ?? scanCasStats;
  const minRefreshMs = opts.minRefreshMs ?? 5000;
  const history = lastRunRegistry(opts.cacheDirs);
  let refreshedAt = -Infinity;
  let refreshing: Promise<void> | undefined;

  // Concurrent scrapes share one refresh; a failed refresh keeps the previous figures.
  const refresh = (): Promise<void> => {
    if (Date.now() - refreshedAt < minRefreshMs) return Promise.resolve();
    refreshing ??= (async () => {
      try {
        let objects = 0;
        let bytes = 0;
        for (const dir of opts.cacheDirs) {
          const s = await casStats(dir);
          objects += s.objects;
          bytes += s.bytes;
        }
        opts.metrics.setCasStats({ objects, bytes });
        refreshedAt = Date.now();
      } finally {
        refreshing = undefined;
      }
    })();
    return refreshing;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://exporter');
    if (url.pathname !== '/metrics') {
      const body = url.pathname === '/' ? 'reprovm metrics exporter: see /metrics\n' : 'not found: the only route is /metrics\n';
      res.writeHead(url.pathname === '/' ? 200 : 404, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed: use GET\n');
      return;
    }
    try {
      await refresh();
      const text = (await opts.metrics.registry.metrics()) + (await history.metrics());
      res.writeHead(200, { 'content-type': opts.metrics.registry.contentType });
      res.end(req.method === 'HEAD' ? undefined : text);
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`metrics unavailable: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  // Scrapes are small; a stuck client must not hold a socket for ever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeIdleConnections();
        server.close(() => resolve());
        // Keep-alive scrapers would otherwise hold close() open until their timeout.
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      }),
  };
}
