/**
 * Durations in the configuration file are seconds: a bare number (`90`) or numbers with units,
 * optionally combined (`90s`, `15m`, `2h`, `1d`, `1500ms`, `1h30m`).
 */

const UNIT_SECONDS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 };

/** Parses a configuration duration into seconds; `undefined` when it is not one. */
export function parseDurationSeconds(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(t)) return undefined;
  let seconds = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) seconds += Number(m[1]) * (UNIT_SECONDS[m[2] ?? ''] ?? 0);
  return seconds;
}
