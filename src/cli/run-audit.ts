import type { LoadedConfig } from '../config/load.js';
import { environmentSecrets } from '../config/redact.js';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../log/logger.js';
import { openAuditLog, type AuditLog } from '../ops/audit-log.js';
import { AuditReporter } from '../report/audit-reporter.js';

/** Batching of a run's audit entries: a killed run loses at most this much (see audit-log.ts). */
const RUN_AUDIT_BATCH = { maxDelayMs: 200, maxEntries: 256 } as const;

/**
 * Opens the configured audit log for a run (undefined when `[audit] enabled = false`), records
 * the configuration it runs with and subscribes the audit reporter to the run's events. Shared by
 * the full run and the no-op fast path, so both leave the same entries.
 */
export function attachRunAudit(
  bus: EventBus,
  ctx: { loaded: LoadedConfig; cacheDir: string; uncachedTasks: readonly string[]; env: NodeJS.ProcessEnv; logger: Logger },
): AuditLog | undefined {
  // Audit-write problems are diagnostics: they honour --log-level and reach --log-file.
  const audit = openAuditLog(ctx.loaded.config, ctx.cacheDir, {
    batch: RUN_AUDIT_BATCH,
    extraSecrets: environmentSecrets(ctx.env),
    warn: (message) => ctx.logger.warn(message),
  });
  if (audit) {
    bus.subscribe(new AuditReporter(audit, { uncachedTasks: ctx.uncachedTasks }));
    // The file and its digest only: values may be secrets.
    audit.append('config.loaded', { file: ctx.loaded.file ?? null, digest: ctx.loaded.digest ?? null });
  }
  return audit;
}
