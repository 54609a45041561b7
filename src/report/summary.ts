import type { RunSummary } from '../events/events.js';
import { formatBytes, formatDuration, type Style } from './style.js';

/** The closing line of every human-readable run. */
export function renderSummary(s: RunSummary, style: Style): string {
  const parts = [
    `${s.executed} executed`,
    `${s.cached - s.upToDate} restored from cache`,
    `${s.upToDate} up to date`,
    s.failed > 0 ? style.red(`${s.failed} failed`) : `${s.failed} failed`,
    s.skipped > 0 ? style.yellow(`${s.skipped} skipped`) : `${s.skipped} skipped`,
  ];
  const head = s.interrupted ? style.red('interrupted') : s.failed > 0 ? style.red('FAILED') : style.green('ok');
  const saved = s.savedMs > 0 ? ` (cache saved ${formatDuration(s.savedMs)})` : '';
  const r = s.remote;
  const remote = r ? `; remote: ${r.hits} hit${r.hits === 1 ? '' : 's'}, ${formatBytes(r.bytesDownloaded)} down, ${formatBytes(r.bytesUploaded)} up` : '';
  return `reprovm: ${head}: ${s.total} task${s.total === 1 ? '' : 's'}: ${parts.join(', ')} in ${formatDuration(s.wallMs)}${saved}${remote}`;
}
