/**
 * The audit log and webhook notifications of a `run`: opens the configured audit log (batched:
 * a run appends two entries per task), subscribes the audit and notify reporters to the run's
 * events, and records what run.ts itself knows (configuration loaded, lock taken or broken,
 * a manifest rejected for escaping the workspace).
 */
import { hostname } from 'node:os';
import { environmentSecrets } from '../config/redact.js';
import path from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import type { EventBus } from '../events/bus.js';
import type { TaskGraph } from '../graph/types.js';
import type { Logger } from '../log/logger.js';
import { openAuditLog, type AuditLog } from '../ops/audit-log.js';
import { configuredTargets } from '../ops/notify/targets.js';
import { notifyWaitBound, NotifyReporter } from '../report/notify-reporter.js';
import { UsageError } from './load-manifest.js';
import { attachRunAudit } from './run-audit.js';
import { VERSION } from './version.js';

/** Default pause before the first webhook retry (doubled after each failure). */
const DEFAULT_NOTIFY_BACKOFF_MS = 1000;

/**
 * `REPROVM_NOTIFY_BACKOFF_MS` (a test and tuning knob): a whole number of milliseconds. Anything
 * else is reported once and the default is used, so a typo never turns into a NaN delay.
 */
export function notifyBackoffMs(env: NodeJS.ProcessEnv, warn: (message: string) => void): number {
  const raw = env.REPROVM_NOTIFY_BACKOFF_MS;
  if (raw === undefined || raw.trim() === '') return DEFAULT_NOTIFY_BACKOFF_MS;
  if (!/^\d+$/.test(raw.trim())) {
    warn(`environment variable REPROVM_NOTIFY_BACKOFF_MS: invalid value "${raw}": expected a whole number of milliseconds; using ${DEFAULT_NOTIFY_BACKOFF_MS}`);
    return DEFAULT_NOTIFY_BACKOFF_MS;
  }
  return Number(raw.trim());
}

/** Secret values from the environment, to be redacted from audit details (defined with the other redaction rules). */
export { environmentSecrets } from '../config/redact.js';

export interface RunSideChannels {
  /** The run's audit log, when enabled. */
  readonly audit: AuditLog | undefined;
  /** Writes what is queued and stops the syslog copy. Call after the bus has closed. */
  close(): Promise<void>;
}

/** Opens the audit log and subscribes the audit and notify reporters of a real (not dry) run. */
export function attachAuditAndNotify(
  bus: EventBus,
  ctx: { loaded: LoadedConfig; cacheDir: string; graph: TaskGraph; env: NodeJS.ProcessEnv; logger: Logger },
): RunSideChannels {
  // Webhook and audit-write problems are diagnostics: they honour --log-level and reach --log-file.
  const warn = (message: string): void => ctx.logger.warn(message);
  const config = ctx.loaded.config;
  const uncached = [...ctx.graph.nodes.values()].filter((n) => !n.spec.cache).map((n) => n.spec.name);
  const audit = attachRunAudit(bus, { ...ctx, uncachedTasks: uncached });
  const n = config.notifications;
  const targets = configuredTargets(config);
  if (targets.length > 0 && n.on !== 'never') {
    const timeoutMs = Math.max(1, n.timeout_seconds * 1000);
    const backoffMs = notifyBackoffMs(ctx.env, warn);
    bus.subscribe(
      new NotifyReporter({
        on: n.on,
        targets,
        cacheDir: ctx.cacheDir,
        timeoutMs,
        retries: n.retries,
        backoffMs,
        maxWaitMs: notifyWaitBound(timeoutMs, n.retries, backoffMs),
        host: hostname(),
        version: VERSION,
        warn,
        ...(audit ? { audit } : {}),
      }),
    );
  }
  return { audit, close: async () => void (await audit?.close()) };
}

/**
 * When a manifest is rejected because a path escapes the workspace, records a
 * `security.path-escape` entry in the configured audit log. Never throws: the caller rethrows
 * the original error.
 */
export async function auditManifestRejection(
  error: unknown,
  manifestFile: string,
  ctx: { loaded: LoadedConfig; cacheDir: string; env: NodeJS.ProcessEnv; logger: Logger },
): Promise<void> {
  if (!(error instanceof UsageError)) return;
  const escapes = error.diagnostics.filter((d) => d.code === 'path-escape');
  if (escapes.length === 0) return;
  const audit = openAuditLog(ctx.loaded.config, ctx.cacheDir, { extraSecrets: environmentSecrets(ctx.env), warn: (m) => ctx.logger.warn(m) });
  audit?.append('security.path-escape', {
    manifest: path.resolve(manifestFile),
    problems: escapes.map((d) => (d.span ? `${path.basename(d.span.file)}:${d.span.line}:${d.span.col}: ${d.message}` : d.message)),
  });
  await audit?.close();
}
