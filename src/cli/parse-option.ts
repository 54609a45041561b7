import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../manifest/parse-values.js';

/** Option value parsers for commander: each rejects bad input with a message naming what is expected. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
}

export function nonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number of at least 0');
  return Number(value);
}

/** Tasks per second: a positive number, or `inf`/`0` for no limit. */
export function rate(value: string): number {
  if (value === 'inf' || value === '0') return Infinity;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected tasks per second (a number > 0, or "inf")');
  return n;
}

export function duration(value: string): number {
  const r = parseDuration(value);
  if (!r.ok) throw new InvalidArgumentError('expected a duration such as 90s, 1500ms, 2m');
  return r.value;
}

/** A fraction in (0, 1], e.g. `--check-repro 0.1`. */
export function fraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError('expected a number greater than 0 and at most 1');
  return n;
}
