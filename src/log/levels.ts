/** Log levels, lowest first: an entry is written when its level is at or above the configured one. */
export const LOG_LEVELS = ['debug', 'info', 'warning', 'error', 'fatal'] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];

/** Whether an entry of `level` passes a threshold of `threshold`. */
export function levelEnabled(level: LogLevel, threshold: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(threshold);
}

/** The level named by `text`, or undefined (accepts `warn` for `warning`). */
export function parseLogLevel(text: string): LogLevel | undefined {
  const t = text.trim().toLowerCase();
  if (t === 'warn') return 'warning';
  return (LOG_LEVELS as readonly string[]).includes(t) ? (t as LogLevel) : undefined;
}
