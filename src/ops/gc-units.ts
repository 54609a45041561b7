/** Parsers for `cache gc --max-size` and `--max-age` (pure; errors are values). */
import { err, ok, type Result } from '../errors/result.js';

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1, b: 1,
  k: 1024, kb: 1024, kib: 1024,
  m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
  t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4,
};

/** `10G`, `512M`, `1.5GiB`, `4096` (bytes) → bytes. Units are binary (K = 1024). */
export function parseSize(text: string): Result<number, string> {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = SIZE_UNITS[(m?.[2] ?? '').toLowerCase()];
  if (!m || unit === undefined) return err(`invalid size "${text}": expected a number with an optional unit K, M, G or T (e.g. 10G, 512M)`);
  return ok(Math.floor(Number(m[1]) * unit));
}

const AGE_UNITS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** `30d`, `12h`, `90m`, `2w`, `45s` → milliseconds. */
export function parseAge(text: string): Result<number, string> {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/.exec(text);
  const unit = AGE_UNITS[m?.[2] ?? ''];
  if (!m || unit === undefined) return err(`invalid age "${text}": expected a number with a unit s, m, h, d or w (e.g. 30d, 12h)`);
  return ok(Math.floor(Number(m[1]) * unit));
}

/** Bytes as a short human string: `1.5 GiB`, `320 KiB`, `12 B`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
