/**
 * What the route handlers work with. The reloadable part (configuration, tokens, limits,
 * schedules) sits behind {@link ServerContext.current}, which SIGHUP swaps as a whole, so a
 * request sees one consistent configuration.
 */
import type { Config } from '../config/schema.js';
import type { AuditLog } from '../ops/audit-log.js';
import type { RunMetrics } from '../report/metrics-reporter.js';
import { notFound } from './api-error.js';
import type { TokenTable } from './auth.js';
import type { HealthRemote } from './health-remote.js';
import type { RunManager } from './run-manager.js';
import type { ScheduleInfo } from './schedule.js';
import type { ManifestCache } from './task-view.js';
import type { ServedWorkspace } from './workspaces.js';

/** The configuration-dependent state; replaced whole on reload. */
export interface Reloadable {
  readonly config: Config;
  readonly configFile: string | undefined;
  readonly tokens: TokenTable;
  /** No token is configured and the server listens on loopback only: every request is allowed. */
  readonly authDisabled: boolean;
}

/** Everything the route handlers use. */
export interface ServerContext {
  readonly workspaces: readonly ServedWorkspace[];
  readonly runs: RunManager;
  readonly manifests: ManifestCache;
  readonly env: NodeJS.ProcessEnv;
  readonly audit: AuditLog | undefined;
  readonly metrics: RunMetrics;
  current(): Reloadable;
  schedules(): ScheduleInfo[];
  /** Updates the metrics that are read, not counted (CAS size); cheap when called often. */
  refreshMetrics(): Promise<void>;
  /** The configured remote cache for health checks (opened once; see health-remote.ts). */
  healthRemote(): Promise<HealthRemote>;
}

/** The workspace named by `?workspace=` (default: the first); 404 when not served. */
export function pickWorkspace(ctx: ServerContext, name: string | undefined): ServedWorkspace {
  if (name === undefined) return ctx.workspaces[0]!;
  const ws = ctx.workspaces.find((w) => w.name === name);
  if (!ws) throw notFound(`no workspace "${name}" is served (served: ${ctx.workspaces.map((w) => w.name).join(', ')})`);
  return ws;
}
