/**
 * The three notification formats: the generic webhook (the {@link RunReport} itself as JSON),
 * Slack incoming webhooks (`text` as the fallback, `blocks` for the message) and Discord
 * webhooks (`content` + one embed). Field sizes are clipped to the services' limits (Slack
 * header 150, section 3000; Discord content 2000, embed description 4096, field value 1024).
 */
import { clip, formatDuration, formatRate, headline, type RunReport } from './run-report.js';

/** Which format a target speaks. */
export type NotifyFormat = 'generic' | 'slack' | 'discord';

function failedList(r: RunReport, wrap: (t: string) => string): string {
  const names = r.failedTasks.map(wrap).join(', ');
  return r.failedTasksTruncated ? `${names}, …` : names;
}

/** Slack incoming-webhook payload. */
export function slackPayload(r: RunReport): Record<string, unknown> {
  const text = headline(r);
  const s = r.summary;
  const fields = [
    `*Status:* ${r.status}`,
    `*Exit code:* ${r.exitCode}`,
    `*Tasks:* ${s.total} (${s.executed} executed, ${s.cached} cached, ${s.failed} failed, ${s.skipped} skipped)`,
    `*Duration:* ${formatDuration(r.durationMs)}`,
    `*Cache hit rate:* ${formatRate(r.cacheHitRate)}`,
    `*Host:* ${r.host}`,
  ].map((t) => ({ type: 'mrkdwn', text: t }));
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(text.replace(/^reprovm: /, 'reprovm · '), 150) } },
    { type: 'section', text: { type: 'mrkdwn', text: clip(`Workspace \`${r.workspace}\``, 3000) }, fields },
  ];
  if (r.failedTasks.length > 0) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(`*Failed tasks:* ${failedList(r, (t) => `\`${t}\``)}`, 3000) } });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: clip(`run ${r.runId} · reprovm ${r.version} · ${r.time}`, 3000) }] });
  return { text, blocks };
}

const COLORS = { success: 0x2eb67d, failure: 0xe01e5a, interrupted: 0xecb22e, test: 0x36c5f0 } as const;

/** Discord webhook payload. */
export function discordPayload(r: RunReport): Record<string, unknown> {
  const s = r.summary;
  const fields = [
    { name: 'Status', value: r.status, inline: true },
    { name: 'Exit code', value: String(r.exitCode), inline: true },
    { name: 'Duration', value: formatDuration(r.durationMs), inline: true },
    { name: 'Tasks', value: `${s.total} (${s.executed} executed, ${s.cached} cached, ${s.failed} failed, ${s.skipped} skipped)`, inline: false },
    { name: 'Cache hit rate', value: formatRate(r.cacheHitRate), inline: true },
    { name: 'Host', value: clip(r.host, 1024), inline: true },
  ];
  if (r.failedTasks.length > 0) fields.push({ name: 'Failed tasks', value: clip(failedList(r, (t) => `\`${t}\``), 1024), inline: false });
  return {
    content: clip(headline(r), 2000),
    embeds: [
      {
        title: clip(`reprovm · ${r.status}`, 256),
        description: clip(`Workspace \`${r.workspace}\``, 4096),
        color: COLORS[r.status],
        fields,
        footer: { text: clip(`run ${r.runId} · reprovm ${r.version}`, 2048) },
        timestamp: r.time,
      },
    ],
  };
}

/** The exact body bytes for a target's format. */
export function bodyFor(format: NotifyFormat, r: RunReport): string {
  switch (format) {
    case 'generic':
      return JSON.stringify(r);
    case 'slack':
      return JSON.stringify(slackPayload(r));
    case 'discord':
      return JSON.stringify(discordPayload(r));
  }
}
