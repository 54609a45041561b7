/**
 * Route handlers of the operations side (operationIds of openapi.yaml): workspaces, the
 * cache (stats, clear, verify, gc), metrics, health, the effective configuration and the
 * schedules. The cache work itself is the `src/ops/` functions the `cache` commands use.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { redactUrl, REDACTED } from '../config/redact.js';
import { CONFIG_SCHEMA, NAMED_SECTION_SCHEMA, type Config, type KeySpec } from '../config/schema.js';
import { cacheStats } from '../ops/cache-stats.js';
import { cleanCache } from '../ops/cache-clean.js';
import { CacheLockBusyError } from '../ops/cache-lock.js';
import { gcCache } from '../ops/cache-gc.js';
import { verifyCache } from '../ops/cache-verify.js';
import { checkHealth, type HealthReport } from '../ops/health.js';
import { ApiError } from './api-error.js';
import { roleAllows, type Role } from './auth.js';
import { pickWorkspace, type ServerContext } from './context.js';

type Query = { workspace?: string };

/** The role the request was authenticated with (admin when auth is off). */
export type RoleOf = (req: FastifyRequest) => Role;

/** Cache operations wait this long for the cache lock before answering 409. */
const LOCK_WAIT_MS = 2000;
/**
 * Health is computed at most this often; requests in between (and concurrent ones) share the
 * answer. A check reads a sample of objects, and monitors and load balancers poll.
 */
const HEALTH_TTL_MS = 1000;

/** The service handlers for the operations routes. */
export function opsHandlers(ctx: ServerContext, roleOf: RoleOf) {
  const idle = (cacheDir: string, what: string): void => {
    if (ctx.runs.busy(cacheDir)) throw new ApiError(409, 'conflict', `cannot ${what} while a run of this cache is queued or running; retry when it has finished`);
  };
  // One check per HEALTH_TTL_MS, shared by every request in that window, serialised once: a
  // monitoring system (or a load balancer) polling /health costs next to nothing.
  let healthMemo: { at: number; answer: Promise<{ status: number; body: string }> } | undefined;
  const currentHealth = (): Promise<{ status: number; body: string }> => {
    if (!healthMemo || Date.now() - healthMemo.at >= HEALTH_TTL_MS) {
      const answer = health(ctx).then((report: HealthReport) => ({ status: report.status === 'critical' ? 503 : 200, body: JSON.stringify(report) }));
      healthMemo = { at: Date.now(), answer };
      answer.catch(() => (healthMemo = undefined));
    }
    return healthMemo.answer;
  };
  const lockBusy = (error: unknown): never => {
    if (error instanceof CacheLockBusyError) throw new ApiError(409, 'conflict', error.message);
    throw error;
  };
  return {
    async listWorkspaces() {
      return {
        workspaces: ctx.workspaces.map((w) => ({ name: w.name, manifest: w.manifest, workspace: w.workspace, cacheDir: w.cacheDir, ...ctx.runs.counts(w.name) })),
      };
    },

    async getCacheStats(req: FastifyRequest) {
      return cacheStats(pickWorkspace(ctx, (req.query as Query).workspace).cacheDir);
    },

    async clearCache(req: FastifyRequest) {
      const ws = pickWorkspace(ctx, (req.query as Query).workspace);
      idle(ws.cacheDir, 'clear the cache');
      return cleanCache(ws.cacheDir, { lockWaitMs: LOCK_WAIT_MS }).catch(lockBusy);
    },

    async verifyCache(req: FastifyRequest) {
      const ws = pickWorkspace(ctx, (req.query as Query).workspace);
      const repair = (req.body as { repair?: boolean } | undefined)?.repair === true;
      if (repair) {
        if (!roleAllows(roleOf(req), 'admin')) throw new ApiError(403, 'forbidden', 'repairing the cache needs a token with the admin role');
        idle(ws.cacheDir, 'repair the cache');
      }
      return verifyCache(ws.cacheDir, { repair, lockWaitMs: LOCK_WAIT_MS }).catch(lockBusy);
    },

    async gcCache(req: FastifyRequest) {
      const ws = pickWorkspace(ctx, (req.query as Query).workspace);
      const body = (req.body ?? {}) as { maxBytes?: number; maxAgeSeconds?: number; dryRun?: boolean };
      const dryRun = body.dryRun === true;
      if (!dryRun) idle(ws.cacheDir, 'collect garbage in the cache');
      const cfg = ctx.current().config.cache;
      const maxBytes = body.maxBytes ?? (cfg.max_cache_size_mb > 0 ? cfg.max_cache_size_mb * 1024 * 1024 : undefined);
      const maxAgeMs = body.maxAgeSeconds !== undefined ? body.maxAgeSeconds * 1000 : cfg.max_age_days > 0 ? cfg.max_age_days * 86_400_000 : undefined;
      if (maxBytes === undefined && maxAgeMs === undefined) {
        throw new ApiError(400, 'bad-request', 'give maxBytes or maxAgeSeconds (or configure [cache] max_cache_size_mb / max_age_days)');
      }
      return gcCache(ws.cacheDir, { dryRun, lockWaitMs: LOCK_WAIT_MS, ...(maxBytes !== undefined ? { maxBytes } : {}), ...(maxAgeMs !== undefined ? { maxAgeMs } : {}) }).catch(lockBusy);
    },

    async getMetrics(_req: FastifyRequest, reply: FastifyReply) {
      await ctx.refreshMetrics();
      const text = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(text);
    },

    async getMetricsJson() {
      await ctx.refreshMetrics();
      return ctx.metrics.registry.getMetricsAsJSON();
    },

    async getHealth(_req: FastifyRequest, reply: FastifyReply) {
      const { status, body } = await currentHealth();
      return reply.code(status).type('application/json; charset=utf-8').send(body);
    },

    async getConfig() {
      const { config, configFile } = ctx.current();
      return { file: configFile ?? null, config: redactedConfig(config) };
    },

    async listSchedules() {
      return { schedules: ctx.schedules() };
    },
  };
}

/**
 * The health of every served cache directory, merged (check names get the workspace prefix when
 * several), and of the configured remote cache, checked once (it is shared: no prefix).
 */
async function health(ctx: ServerContext): Promise<HealthReport> {
  const seen = new Set<string>();
  const checks: HealthReport['checks'][number][] = [];
  const several = new Set(ctx.workspaces.map((w) => w.cacheDir)).size > 1;
  let remote = await ctx.healthRemote();
  for (const ws of ctx.workspaces) {
    if (seen.has(ws.cacheDir)) continue;
    seen.add(ws.cacheDir);
    const report = await checkHealth({ cacheDir: ws.cacheDir, config: ctx.current().config, workspace: ws.workspace, ...remote });
    remote = {};
    for (const c of report.checks) checks.push(several && c.name !== 'remote' ? { ...c, name: `${ws.name}: ${c.name}` } : { ...c });
  }
  const status = checks.some((c) => c.status === 'critical') ? 'critical' : checks.some((c) => c.status === 'warning') ? 'warning' : 'ok';
  return { status, checks };
}

/** The configuration as JSON with every set secret replaced by `***` and URL credentials hidden. */
export function redactedConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const value = (spec: KeySpec, v: unknown): unknown => {
    if (spec.secret && typeof v === 'string' && v !== '') return REDACTED;
    if (typeof v === 'number' && !Number.isFinite(v)) return 'inf';
    if (typeof v === 'string') return redactUrl(v);
    return v;
  };
  const source = config as unknown as Record<string, Record<string, unknown>>;
  for (const [section, keys] of Object.entries(CONFIG_SCHEMA)) {
    const s: Record<string, unknown> = {};
    for (const [key, spec] of Object.entries<KeySpec>(keys)) s[key] = value(spec, source[section]?.[key]);
    out[section] = s;
  }
  for (const kind of Object.keys(NAMED_SECTION_SCHEMA) as (keyof typeof NAMED_SECTION_SCHEMA)[]) {
    const keys: Record<string, KeySpec> = NAMED_SECTION_SCHEMA[kind];
    out[kind] = (config[kind] as readonly Record<string, unknown>[]).map((entry) => {
      const e: Record<string, unknown> = { name: entry.name };
      for (const [key, spec] of Object.entries(keys)) e[key] = value(spec, entry[key]);
      return e;
    });
  }
  return out;
}
