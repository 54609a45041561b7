/**
 * The configured notification targets and sending one report to all of them in parallel. The
 * generic webhook gets `X-Reprovm-Event` and, with `webhook_secret`, `X-Reprovm-Signature:
 * sha256=<hex HMAC-SHA256 of the exact body>`.
 */
import { createHmac } from 'node:crypto';
import type { Config } from '../../config/schema.js';
import { deliver, type DeliveryResult } from './deliver.js';
import { bodyFor, type NotifyFormat } from './formats.js';
import type { RunReport } from './run-report.js';

/** A configured destination. `name` is what messages call it (never the URL). */
export interface NotifyTarget {
  readonly name: 'webhook' | 'slack' | 'discord';
  readonly format: NotifyFormat;
  readonly url: string;
  readonly secret?: string;
}

/** Targets with a URL set, in a fixed order. */
export function configuredTargets(config: Config): NotifyTarget[] {
  const n = config.notifications;
  const out: NotifyTarget[] = [];
  if (n.webhook_url) out.push({ name: 'webhook', format: 'generic', url: n.webhook_url, ...(n.webhook_secret ? { secret: n.webhook_secret } : {}) });
  if (n.slack_webhook_url) out.push({ name: 'slack', format: 'slack', url: n.slack_webhook_url });
  if (n.discord_webhook_url) out.push({ name: 'discord', format: 'discord', url: n.discord_webhook_url });
  return out;
}

/** `sha256=<hex>` of `body` under `secret`. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The request of one target: exact body and headers. */
export function requestFor(target: NotifyTarget, report: RunReport, version: string): { body: string; headers: Record<string, string> } {
  const body = bodyFor(target.format, report);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': `reprovm/${version}` };
  if (target.format === 'generic') {
    headers['x-reprovm-event'] = report.event;
    if (target.secret) headers['x-reprovm-signature'] = signBody(body, target.secret);
  }
  return { body, headers };
}

export interface SendOptions {
  readonly timeoutMs: number;
  readonly retries: number;
  readonly backoffMs: number;
  readonly signal?: AbortSignal;
}

export interface TargetResult extends DeliveryResult {
  readonly target: NotifyTarget['name'];
}

/** Sends `report` to every target at once; never throws. */
export async function sendToTargets(targets: readonly NotifyTarget[], report: RunReport, opts: SendOptions): Promise<TargetResult[]> {
  return Promise.all(
    targets.map(async (t): Promise<TargetResult> => {
      try {
        const { body, headers } = requestFor(t, report, report.version);
        return { target: t.name, ...(await deliver(t.url, body, headers, opts)) };
      } catch {
        // An invalid URL: fetch throws before any request.
        return { target: t.name, ok: false, attempts: 0, error: 'invalid webhook URL' };
      }
    }),
  );
}
