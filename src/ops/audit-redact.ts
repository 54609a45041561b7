/**
 * Keeps secrets out of audit details: every string value (at any depth) goes through a text
 * redactor, and credentials in URLs (`scheme://user:pass@host`) are masked even when the
 * redactor does not know them.
 */
import { MIN_SECRET_LENGTH } from '../config/redact.js';

const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi;

/** Masks `user:password@` in URLs inside `text`. */
export function maskUrlCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1***@');
}

/** Returns a copy of `value` with every string passed through `redact` (and URL credentials masked). */
export function redactDeep(value: unknown, redact: (text: string) => string): unknown {
  if (typeof value === 'string') return maskUrlCredentials(redact(value));
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, redact));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, redact);
    return out;
  }
  return value;
}

/** A redactor that replaces each of `secrets` (of at least {@link MIN_SECRET_LENGTH} characters) with `***`. */
export function redactValues(secrets: readonly string[]): (text: string) => string {
  const list = secrets.filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const s of list) if (out.includes(s)) out = out.split(s).join('***');
    return out;
  };
}
